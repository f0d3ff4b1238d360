"""Claims and leases: which worker is sending a row, for how long, and what happens if it dies.

A worker claims the rows it sends with a token, in the transaction that locked them; every later
write (started, sent, failed, retry, given back) only touches rows still under that token, so a
worker whose claim ran out cannot undo what another worker did since. A claim is a short lease
(``RetryPolicy.lease``), renewed by a heartbeat while its message is being sent; a claim that
runs out anyway is recovered (:func:`recover_stale`). Named leases (:class:`NamedLease`) let one
worker at a time play a role, such as the drain that waits for work due soon.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F, Q, QuerySet

from ..models import Delivery, Lease

logger = logging.getLogger("inventree")

Status = Delivery.Status

NOT_STARTED = "-"  # message_id of a batch's claimed rows until their message is being sent
# A send still going after this long is no longer kept alive: its worker is taken for hung and
# the claim may run out (InvenTree's task timeout ends a worker long before, 90 s by default).
HEARTBEAT_LIMIT = 600.0
WAITER = "drain-waiter"  # held by the one drain that waits for work due soon
WAITER_HOLD = timedelta(seconds=10)  # the waiter renews it with 5 s left; a dead one frees it


def claim(rows: list[Delivery], token: str, now: datetime, started: bool) -> None:
    """Mark locked rows as being sent under ``token`` (in the locking transaction).

    ``started``: their one message is sent right away. A batch's rows are claimed as not
    started; each message is started in turn (:func:`start`), so a worker dying mid-batch
    leaves only the message it was sending in doubt and the rest goes back to pending.
    """
    message_id = uuid.uuid4().hex if started else NOT_STARTED
    Delivery.objects.filter(pk__in=[r.pk for r in rows], status=Status.PENDING).update(
        status=Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
        message_id=message_id,
    )
    for row in rows:
        row.status, row.claim_token, row.claimed_at = Status.SENDING, token, now
        row.attempts += 1


def start(token: str, ids: list[int], now: datetime) -> bool:
    """Mark a batch message as being sent now; False (and not sent) if the claim was lost.

    Compare-and-set on the claim token: rows whose lease ran out before their turn went back
    to pending and may have been claimed by another worker, which then sends them.
    """
    started = Delivery.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).update(
        message_id=uuid.uuid4().hex, claimed_at=now
    )
    if started == len(ids):
        return True
    if started:
        unclaim(token, ids)
    return False


def unclaim(token: str, ids: list[int]) -> None:
    """Give back rows of a batch not sent before the deadline (no attempt used)."""
    Delivery.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).update(
        status=Status.PENDING, claim_token="", attempts=F("attempts") - 1, message_id=""
    )


def renew(token: str, ids: list[int], now: datetime) -> None:
    """Extend the lease of rows still waiting in a batch being sent."""
    Delivery.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).update(
        claimed_at=now
    )


@contextmanager
def keep_lease(
    token: str, ids: list[int], lease: timedelta, clock: Callable[[], datetime]
) -> Iterator[bool]:
    """Renew the claim of ``ids`` every third of the lease while the block runs.

    A heartbeat thread (with its own database connection), so that a message the service
    is slow to accept (a mail server taking its time) is not taken for a dead worker's and
    marked 'unknown'; for at most ``HEARTBEAT_LIMIT`` seconds. Yields whether it beats: not
    inside a transaction, where the claim is not visible to another connection yet (and
    renewing it would wait for this one).
    """
    every = lease.total_seconds() / 3
    if connection.in_atomic_block or every <= 0:
        yield False
        return
    stop = threading.Event()
    beats = int(HEARTBEAT_LIMIT // every)

    def beat() -> None:
        try:
            for _ in range(beats):
                if stop.wait(every):
                    break
                renew(token, ids, clock())
        except Exception:
            logger.exception("Notify Plus: could not renew the lease of a message in flight")
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name="notify-plus-lease", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join(timeout=every)


def mine(rows: Sequence[Delivery], token: str) -> QuerySet[Delivery]:
    """Rows still under ``token``.

    Sending, or marked 'unknown' after the lease ran out (a slow worker's late answer
    settles them); never rows claimed again since.
    """
    return Delivery.objects.filter(
        pk__in=[r.pk for r in rows],
        claim_token=token,
        status__in=[Status.SENDING, Status.UNKNOWN],
    )


def settle(rows: Sequence[Delivery], token: str, status: str, reason: str, now: datetime) -> int:
    """Finish rows still under ``token`` with ``status`` and its reason; how many there were."""
    return mine(rows, token).update(
        status=status, last_error=reason, claim_token="", updated_at=now
    )


def recover_stale(now: datetime, lease: timedelta) -> int:
    """Rows left 'sending' longer than the lease: their worker died (or hangs).

    Rows of a batch whose message was never started go back to pending (no attempt used):
    nothing of them was sent. For a started message the message may or may not have reached
    the service; sending again could duplicate it, so its rows are marked 'unknown' with the
    reason, for the admin to see. The claim token stays: if the worker was only slow, its
    answer still settles the row.
    """
    stale = Delivery.objects.filter(status=Status.SENDING, claimed_at__lt=now - lease)
    returned = stale.filter(message_id=NOT_STARTED).update(
        status=Status.PENDING,
        claim_token="",
        message_id="",
        attempts=F("attempts") - 1,
        updated_at=now,
    )
    return returned + stale.update(
        status=Status.UNKNOWN,
        updated_at=now,
        last_error="the worker stopped while sending; not sent again so that nobody gets it twice",
    )


class NamedLease:
    """A role one worker at a time may play (``WAITER``: the drain waiting for work due soon).

    A ``Lease`` row by name; whoever holds it renews it before it runs out, and a holder that
    died frees it by letting it run out.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.holder = uuid.uuid4().hex

    def hold(self, length: timedelta, now: datetime) -> bool:
        """Take or renew the lease for ``length`` from ``now``; False if another holds it."""
        Lease.objects.get_or_create(name=self.name)
        return bool(
            Lease.objects.filter(name=self.name)
            .filter(Q(until__isnull=True) | Q(until__lt=now) | Q(holder=self.holder))
            .update(holder=self.holder, until=now + length)
        )

    def release(self) -> None:
        """Give the lease up (only if this holder still has it)."""
        Lease.objects.filter(name=self.name, holder=self.holder).update(holder="", until=None)
