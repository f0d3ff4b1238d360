"""Retries: the policy (backoff, attempts, age, the claim's lease) and the reschedule decision.

A transient failure (network, 5xx, 429, SMTP 4xx) puts the message's rows back to pending with
exponential backoff and jitter, until the attempt limit or the age limit; then they fail with
the service's answer. The destination is held until the retry, so that what is queued for it
meanwhile goes along in the retry's message instead of ahead of it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F

from ..channels.base import SendResult
from ..models import Delivery
from .claims import mine
from .pacing import block, block_channel

Status = Delivery.Status


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and age; the claim lease."""

    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    max_attempts: int = 10
    max_age: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(seconds=30)
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (half to full jitter)."""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        return ceiling * self.rng.uniform(0.5, 1.0)


def give_up_or_retry(
    rows: Sequence[Delivery], policy: RetryPolicy, now: datetime, rate_limited: bool
) -> tuple[dict[str, list[Delivery]], list[Delivery]]:
    """The rows to give up on (by why: too old, out of attempts) and the rows to retry.

    Age counts from the first due time: a digest row queued a day before it was due is not too
    old on its first transient error. A 429 does not use up an attempt.
    """
    give_up: dict[str, list[Delivery]] = {}
    retry: list[Delivery] = []
    for row in rows:
        attempts = row.attempts - 1 if rate_limited else row.attempts
        start = max(row.created_at, row.first_due_at or row.created_at)
        if now - start > policy.max_age:
            give_up.setdefault(f"older than {policy.max_age}", []).append(row)
        elif attempts >= policy.max_attempts:
            give_up.setdefault(f"{attempts} attempts", []).append(row)
        else:
            retry.append(row)
    return give_up, retry


def reschedule(
    destination: str,
    kind: str,
    rows: list[Delivery],
    token: str,
    result: SendResult,
    now: datetime,
    policy: RetryPolicy,
) -> tuple[int, int]:
    """Back to pending with backoff, or failed when out of attempts or too old.

    The rows of one message are retried together, at the backoff of the most-tried (or the
    Retry-After), and the destination is blocked until then. A global rate limit (Discord's)
    blocks every destination of the channel. Only rows still under ``token`` are written.
    Returns how many rows failed and how many will be retried.
    """
    rate_limited = result.status == 429
    if result.retry_after is not None and rate_limited and "global" in result.detail:
        block_channel(kind, now + timedelta(seconds=result.retry_after))
    give_up, retry = give_up_or_retry(rows, policy, now, rate_limited)
    undo = F("attempts") - 1 if rate_limited else F("attempts")
    failed = retried = 0
    for why, group in give_up.items():
        failed += mine(group, token).update(
            status=Status.FAILED,
            attempts=undo,
            last_error=f"gave up after {why}: {result.detail}",
            claim_token="",
            updated_at=now,
        )
    until = now + timedelta(seconds=result.retry_after) if result.retry_after else None
    if retry:
        tried = max(r.attempts - 1 if rate_limited else r.attempts for r in retry)
        delay = policy.backoff(max(1, tried))
        if result.retry_after is not None:
            delay = max(result.retry_after, delay if not rate_limited else 0.0)
        until = now + timedelta(seconds=delay)
        retried = mine(retry, token).update(
            status=Status.PENDING,
            attempts=undo,
            due_at=until,
            last_error=result.detail,
            claim_token="",
            message_id="",
            updated_at=now,
        )
    if until is not None:
        block(destination, until)
    return failed, retried
