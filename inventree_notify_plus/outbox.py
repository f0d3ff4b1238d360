"""The outbox: every delivery is a row before anything is sent; the dispatcher drains it.

Guarantees, and how:
- nothing lost: rows are written in the caller's transaction; transient failures (network,
  5xx, SMTP 4xx) come back as pending with exponential backoff and jitter until a maximum
  number of attempts or age, then fail with the reason;
- nothing twice: a delivery's key is unique (enqueueing the same notice again is a no-op) and
  rows are claimed with a conditional UPDATE (pending -> sending), so two workers never send
  the same row; a row left 'sending' by a killed worker is not sent again but marked
  'unknown' for the admin to see (at most once);
- rate limits: a token bucket and a Retry-After block per destination, kept in the database so
  every worker shares them; a 429 reschedules, nobody sleeps for long;
- grouping: a destination's first notice goes out at once, the ones arriving within the
  grouping interval after a message are folded into one digest.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from .channels.base import Channel, Destination, Outcome, SendResult, Skip
from .models import Condition, Delivery, DestinationState
from .notice import Notice, stable_uid
from .routing import PlannedDelivery

logger = logging.getLogger("inventree")

Status = Delivery.Status


class Directory(Protocol):
    """Resolves stored destination keys to live addresses at send time.

    Webhook URLs are secrets and user addresses change, so the outbox stores only keys.
    """

    def resolve(self, key: str) -> Destination | Skip:
        """The destination for ``key`` now, or why it cannot be delivered."""

    def target_exists(self, object_ref: str) -> bool:
        """Whether the object the notice is about still exists."""


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and age."""

    base_seconds: float = 15.0
    cap_seconds: float = 900.0
    max_attempts: int = 10
    max_age: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(minutes=5)
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (half to full jitter)."""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        return ceiling * self.rng.uniform(0.5, 1.0)


def delivery_key(notice_uid: str, destination: str) -> str:
    """The identity of one delivery: the same notice to the same destination is one row."""
    return stable_uid(notice_uid, destination)


def enqueue(notice: Notice, planned: Iterable[PlannedDelivery], now: datetime | None = None) -> int:
    """Write one pending row per planned delivery; already-known deliveries are ignored.

    Returns how many rows are new. Call it inside the transaction that decided to notify.
    """
    now = now or timezone.now()
    data = notice.to_dict()
    rows = [
        Delivery(
            key=delivery_key(notice.uid, plan.destination),
            notice_uid=notice.uid,
            category=notice.category[:100],
            title=notice.title[:250],
            notice=data,
            channel=plan.channel,
            destination=plan.destination,
            destination_label=plan.label[:250],
            mentions=list(plan.mentions),
            due_at=plan.due_at or now,
            created_at=now,
            groupable=plan.groupable,
        )
        for plan in planned
    ]
    if not rows:
        return 0
    with transaction.atomic():
        keys = [r.key for r in rows]
        known = set(Delivery.objects.filter(key__in=keys).values_list("key", flat=True))
        fresh = [r for r in rows if r.key not in known]
        try:
            with transaction.atomic():
                Delivery.objects.bulk_create(fresh)
        except IntegrityError:
            # Another process enqueued the same notice at the same moment: keep theirs.
            Delivery.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


@dataclass
class DispatchReport:
    """What one dispatcher pass did (for logs, the test action and benchmarks)."""

    messages: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    results: list[SendResult] = field(default_factory=list)


class Dispatcher:
    """Claims due deliveries per destination, sends them through channels, records outcomes."""

    def __init__(
        self,
        directory: Directory,
        channels: dict[str, Channel],
        policy: RetryPolicy | None = None,
        group_interval: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = timezone.now,
        max_rows_per_message: int = 1000,
    ) -> None:
        self.directory = directory
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self.group_interval = group_interval
        self.clock = clock
        self.max_rows_per_message = max_rows_per_message

    # -- the loop ---------------------------------------------------------------------------

    def drain(
        self, budget_seconds: float = 30.0, sleep: Callable[[float], None] = time.sleep
    ) -> DispatchReport:
        """Send everything due, waiting (in steps of at most a second) for work due soon.

        Stops when nothing is due within the budget; the periodic sweep picks up the rest.
        """
        report = DispatchReport()
        deadline = time.monotonic() + budget_seconds
        while True:
            wait = self.run_once(report)
            if wait is None:
                break
            if wait > 0:
                if time.monotonic() + wait > deadline:
                    break
                sleep(min(wait, 1.0))
            elif time.monotonic() > deadline:
                break
        return report

    def run_once(self, report: DispatchReport | None = None) -> float | None:
        """One pass over destinations with due work.

        Returns 0 if it sent something (call again), the seconds until work is next due, or
        None when the outbox holds nothing pending.
        """
        report = report if report is not None else DispatchReport()
        now = self.clock()
        self.recover_stale(now)
        due = list(
            Delivery.objects.filter(status=Status.PENDING, due_at__lte=now)
            .values_list("destination", flat=True)
            .distinct()
        )
        waits: list[float] = []
        progressed = False
        for destination in due:
            before = report.messages + report.skipped + report.failed
            wait = self.dispatch_destination(destination, report)
            if wait:
                waits.append(wait)
            progressed |= report.messages + report.skipped + report.failed > before
        if progressed:
            return 0.0
        nxt = Delivery.objects.filter(status=Status.PENDING, due_at__gt=now).aggregate(
            m=Min("due_at")
        )["m"]
        if nxt is not None:
            waits.append(max(0.0, (nxt - now).total_seconds()))
        if waits:
            return max(0.05, min(waits))
        return None

    # -- one destination --------------------------------------------------------------------

    def dispatch_destination(self, destination: str, report: DispatchReport) -> float | None:
        """Send one message (a single notice or a digest) to ``destination`` if it may send now.

        Returns the seconds to wait when pacing holds the destination back.
        """
        now = self.clock()
        claim = uuid.uuid4().hex
        with transaction.atomic():
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(destination=destination, status=Status.PENDING, due_at__lte=now)
                .order_by("due_at", "id")[: self.max_rows_per_message]
            )
            if not rows:
                return None
            channel = self.channels.get(rows[0].channel)
            if channel is None:
                self._finish(rows, Status.FAILED, f"unknown channel '{rows[0].channel}'", now)
                report.failed += len(rows)
                return None
            groupable = [r for r in rows if r.groupable]
            rows = groupable or rows[:1]
            backlog = False
            if len(rows) > 1:
                fit = channel.capacity([Notice.from_dict(r.notice) for r in rows])
                backlog = len(rows) > fit
                rows = rows[:fit]
            # A backlog larger than one message drains at the rate limit; the grouping
            # interval applies once what is waiting fits one message.
            wait = self._pace(destination, channel, now, grouping=bool(groupable) and not backlog)
            if wait > 0:
                return wait
            ids = [r.pk for r in rows]
            claimed = Delivery.objects.filter(pk__in=ids, status=Status.PENDING).update(
                status=Status.SENDING, claim_token=claim, claimed_at=now, attempts=F("attempts") + 1
            )
            if not claimed:
                return None
        rows = list(
            Delivery.objects.filter(claim_token=claim, status=Status.SENDING).order_by(
                "created_at", "id"
            )
        )
        self._send(destination, channel, rows, claim, report)
        return None

    def _pace(self, destination: str, channel: Channel, now: datetime, grouping: bool) -> float:
        """Rate limit, Retry-After block and grouping interval; takes a token when it may send."""
        limit = channel.rate_limit
        if limit is None and channel.kind == "email":
            return 0.0  # mail has no rate limit and no grouping interval: no shared state to keep
        state, _ = DestinationState.objects.get_or_create(
            destination=destination,
            defaults={"tokens": float(limit.burst if limit else 1), "refilled_at": now},
        )
        state = DestinationState.objects.select_for_update().get(pk=state.pk)
        if state.blocked_until and state.blocked_until > now:
            return (state.blocked_until - now).total_seconds()
        if (
            grouping
            and channel.kind != "email"
            and state.last_sent_at
            and now < state.last_sent_at + self.group_interval
        ):
            return (state.last_sent_at + self.group_interval - now).total_seconds()
        if limit:
            elapsed = max(0.0, (now - state.refilled_at).total_seconds())
            tokens = min(float(limit.burst), state.tokens + elapsed * limit.per_second)
            if tokens < 1.0:
                return (1.0 - tokens) / limit.per_second
            state.tokens = tokens - 1.0
            state.refilled_at = now
        state.last_sent_at = now
        state.save()
        return 0.0

    def _send(
        self, key: str, channel: Channel, rows: list[Delivery], claim: str, report: DispatchReport
    ) -> None:
        now = self.clock()
        live: list[Delivery] = []
        for row in rows:
            ref = row.notice.get("object_ref", "")
            if ref and not self._exists(ref):
                self._finish([row], Status.SKIPPED, "the object was deleted before sending", now)
                report.skipped += 1
            else:
                live.append(row)
        if not live:
            return
        resolved = self.directory.resolve(key)
        if isinstance(resolved, Skip):
            self._finish(live, Status.SKIPPED, resolved.reason, now)
            report.skipped += len(live)
            return
        notices = [Notice.from_dict(r.notice) for r in live]
        mentions = sorted({m for r in live for m in (r.mentions or [])})
        try:
            result = channel.send(resolved, notices, mentions)
        except Exception as exc:  # a bug must not strand the rows in 'sending'
            logger.exception("Notify Plus: %s channel raised while sending", channel.kind)
            result = SendResult.retry(f"internal error: {type(exc).__name__}")
        report.messages += 1
        report.results.append(result)
        self._record(key, channel, live, claim, result, report)

    def _exists(self, ref: str) -> bool:
        try:
            return self.directory.target_exists(ref)
        except Exception:
            logger.exception("Notify Plus: could not check whether %s exists", ref)
            return True

    def _record(
        self,
        key: str,
        channel: Channel,
        rows: list[Delivery],
        claim: str,
        result: SendResult,
        report: DispatchReport,
    ) -> None:
        now = self.clock()
        message_id = uuid.uuid4().hex
        ids = [r.pk for r in rows]
        mine = Delivery.objects.filter(pk__in=ids, claim_token=claim, status=Status.SENDING)
        with transaction.atomic():
            if result.outcome == Outcome.SENT:
                mine.update(
                    status=Status.SENT,
                    sent_at=now,
                    last_error="",
                    message_id=message_id,
                    claim_token="",
                )
                report.sent += len(rows)
                logger.info(
                    "Notify Plus: sent %s notice(s) by %s to %s",
                    len(rows),
                    channel.kind,
                    rows[0].destination_label,
                )
                return
            if result.outcome == Outcome.PERMANENT:
                mine.update(status=Status.FAILED, last_error=result.detail, claim_token="")
                report.failed += len(rows)
                logger.warning(
                    "Notify Plus: %s delivery to %s failed permanently: %s",
                    channel.kind,
                    rows[0].destination_label,
                    result.detail,
                )
                return
            self._reschedule(key, channel, rows, result, now, report)

    def _reschedule(
        self,
        key: str,
        channel: Channel,
        rows: list[Delivery],
        result: SendResult,
        now: datetime,
        report: DispatchReport,
    ) -> None:
        rate_limited = result.status == 429
        if result.retry_after is not None:
            until = now + timedelta(seconds=result.retry_after)
            blocked = DestinationState.objects.filter(destination=key)
            if rate_limited and "global" in result.detail:
                blocked = DestinationState.objects.filter(
                    destination__startswith=f"{channel.kind}:"
                )
            blocked.update(blocked_until=until)
        for row in rows:
            attempts = row.attempts - 1 if rate_limited else row.attempts
            too_old = now - row.created_at > self.policy.max_age
            if attempts >= self.policy.max_attempts or too_old:
                why = f"{attempts} attempts" if not too_old else f"older than {self.policy.max_age}"
                Delivery.objects.filter(pk=row.pk).update(
                    status=Status.FAILED,
                    attempts=attempts,
                    last_error=f"gave up after {why}: {result.detail}",
                    claim_token="",
                )
                report.failed += 1
                continue
            delay = self.policy.backoff(max(1, attempts))
            if result.retry_after is not None:
                delay = max(result.retry_after, delay if not rate_limited else 0.0)
            Delivery.objects.filter(pk=row.pk).update(
                status=Status.PENDING,
                attempts=attempts,
                due_at=now + timedelta(seconds=delay),
                last_error=result.detail,
                claim_token="",
            )
            report.retried += 1

    def _finish(self, rows: Sequence[Delivery], status: str, reason: str, now: datetime) -> None:
        Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=status, last_error=reason, claim_token="", updated_at=now
        )

    def recover_stale(self, now: datetime | None = None) -> int:
        """Rows left 'sending' longer than the lease: their worker died mid-send.

        The message may or may not have reached the service; sending again could duplicate it,
        so the row is marked 'unknown' with the reason, for the admin to see.
        """
        now = now or self.clock()
        return Delivery.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - self.policy.lease
        ).update(
            status=Status.UNKNOWN,
            claim_token="",
            last_error="the worker stopped while sending; not sent again so that nobody gets it twice",
        )


def counts() -> dict[str, int]:
    """Deliveries per status, for the delivery log's header."""
    result = {s.value: 0 for s in Status}
    for row in Delivery.objects.values("status").annotate(n=Count("id")):
        result[row["status"]] = row["n"]
    return result


def prune(days: int, now: datetime | None = None) -> int:
    """Delete finished deliveries and ended conditions older than ``days`` (0 keeps all)."""
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    done = [Status.SENT, Status.FAILED, Status.SKIPPED, Status.UNKNOWN]
    deleted, _ = Delivery.objects.filter(status__in=done, created_at__lt=cutoff).delete()
    DestinationState.objects.filter(refilled_at__lt=cutoff).exclude(
        destination__in=Delivery.objects.filter(status=Status.PENDING).values("destination")
    ).delete()
    Condition.objects.filter(since__lt=cutoff, detail__ended=True).delete()
    return deleted
