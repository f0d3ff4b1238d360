"""The dispatcher: the loop that drains the outbox, one destination's message at a time.

A drain passes over the destinations with due work until nothing is due, its budget is spent,
or (waiting for work due soon) another task wants the worker. Rate-limited channels (Slack,
Discord) send one message per destination and pass, paced per destination (``pacing``);
channels without a rate limit (email) go in batches (``batches``). Sending and recording one
message is ``sending``; claims and their leases are ``claims``; the clock is the database's
(``clock``). ``next_due`` says when the outbox next needs a drain, so the caller can wake one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Min

from ..channels.base import Channel
from ..models import Delivery
from ..notice import Notice
from . import claims, holds, updates
from .batches import EmailBatches
from .claims import WAITER, WAITER_HOLD, NamedLease
from .clock import DatabaseClock
from .pacing import WAIT_STEP, pace, refilled_at
from .report import DispatchReport
from .retry import RetryPolicy
from .sending import Message

if TYPE_CHECKING:
    from .destinations import Directory

Status = Delivery.Status

RECOVER_EVERY = timedelta(seconds=5)  # least spacing of the stale-claim check within a drain


class Dispatcher(EmailBatches):
    """Claims due deliveries per destination, sends them through channels, records outcomes."""

    def __init__(
        self,
        directory: Directory,
        channels: dict[str, Channel],
        policy: RetryPolicy | None = None,
        group_interval: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] | None = None,
        max_rows_per_message: int = 1000,
        batch_size: int = 50,
        max_rows_per_batch: int = 5000,
        on_claim: Callable[[datetime], None] | None = None,
    ) -> None:
        self.directory = directory
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self.group_interval = group_interval
        # The database's clock unless a test gives its own: every server measures claims, leases
        # and pacing on the same clock.
        self.clock: Callable[[], datetime] = clock or DatabaseClock()
        self.max_rows_per_message = max_rows_per_message
        self.batch_size = batch_size
        self.max_rows_per_batch = max_rows_per_batch
        self._exists_cache: dict[str, bool] = {}
        self._notices: dict[int, Notice] = {}
        # Webhook destinations held back by pacing, until when (within one drain). Waits only
        # grow (tokens, a block until a retry, the grouping interval after a delivered message;
        # a window whose message is still being sent, which may fail and close it, is held only
        # for a short step), and webhook rows are always groupable, so nothing queued meanwhile
        # could go out earlier.
        self._held: dict[str, datetime] = {}
        self._recover_at: datetime | None = None
        # Called with the first claim's expiry, so that a drain comes then even if this worker
        # dies holding it (the drain then woken chains on to any later claims).
        self.on_claim = on_claim
        self._claims_covered = False
        self.waiter = NamedLease(WAITER)  # held while this dispatcher waits for work due soon
        self.timer: Callable[[], float] = time.monotonic  # deadlines and lease renewal
        # Silences and snoozes (``holds``): who a snoozed user's channel mentions are.
        self.mentions_of: holds.MentionLookup | None = None
        self.still_true: holds.StillTrue | None = None  # whether an episode still holds

    # -- the loop ---------------------------------------------------------------------------

    def drain(
        self,
        budget_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        wait: bool = True,
        should_yield: Callable[[], bool] | None = None,
    ) -> DispatchReport:
        """Send everything due; wait (in steps of at most ``WAIT_STEP``) for work due soon.

        Only one drain waits at a time (a lease), and only while ``should_yield`` says no
        other task is waiting for the worker; the others send what is due and return.
        Stops at the deadline; ``report.next_due`` says when the rest is due (work held back
        by pacing: when it may go), so the caller can wake a drain then.
        """
        report = DispatchReport()
        deadline = self.timer() + budget_seconds
        waiting = False
        renew_at = 0.0
        left: float | None = None
        self._held = {}
        try:
            while True:
                left = self.run_once(report, deadline)
                if left is None:
                    break
                if left <= 0:
                    if self.timer() >= deadline:
                        break
                    continue
                if not wait or self.timer() + left > deadline:
                    break
                if should_yield is not None and should_yield():
                    break
                if not waiting or self.timer() >= renew_at:
                    waiting = self.waiter.hold(WAITER_HOLD, self.clock())
                    renew_at = self.timer() + WAITER_HOLD.total_seconds() / 2
                if not waiting:
                    break
                sleep(min(left, WAIT_STEP))
        finally:
            if waiting:
                self.waiter.release()
        report.next_due = self.next_due()
        if report.next_due is not None and left and report.next_due <= self.clock():
            # Work is due but held back (a rate limit, a block until a retry, a grouping
            # window): the next drain is needed when that ends, not at once.
            report.next_due = self.clock() + timedelta(seconds=left)
        return report

    def run_once(
        self, report: DispatchReport | None = None, deadline: float | None = None
    ) -> float | None:
        """One pass over destinations with due work.

        Returns 0 if it sent something (call again), the seconds until work is next due, or
        None when the outbox holds nothing pending or in flight.
        """
        report = report if report is not None else DispatchReport()
        now = self.clock()
        self._exists_cache = {}
        self._notices = {}
        if self._recover_at is None or now >= self._recover_at:
            self.recover_stale(now)
            self._recover_at = now + RECOVER_EVERY
        holds.apply(
            now, self.mentions_of, self.still_true
        )  # silences and snoozes, before anything is claimed
        due = list(
            Delivery.objects.filter(status=Status.PENDING, due_at__lte=now)
            .values_list("channel", "destination")
            .distinct()
        )
        waits: list[float] = []
        progressed = False
        batched = {
            kind for kind, _ in due if kind in self.channels and self._batches(self.channels[kind])
        }
        for kind in sorted(batched):
            progressed |= self.dispatch_batch(kind, report, deadline)
        for kind, destination in due:
            if kind in batched:
                continue
            if deadline is not None and self.timer() >= deadline:
                return 0.0
            held = self._held.get(destination)
            if held is not None and held > now:
                waits.append((held - now).total_seconds())
                continue
            before = report.messages + report.skipped + report.failed
            wait = self.dispatch_destination(destination, report)
            if wait:
                waits.append(wait)
                self._held[destination] = now + timedelta(seconds=wait)
            progressed |= report.messages + report.skipped + report.failed > before
        if progressed:
            return 0.0
        nxt = self._next_change(now)
        if nxt is not None:
            waits.append(max(0.0, (nxt - self.clock()).total_seconds()))
        if waits:
            return max(0.05, min(waits))
        return None

    def next_due(self) -> datetime | None:
        """When the outbox next needs a drain: the next pending row, or a lease running out."""
        return self._next_change(None)

    def _next_change(self, after: datetime | None) -> datetime | None:
        """The next pending row due (after ``after``, if given), or the oldest claim running out.

        A pass passes ``after=now``: rows due now but held back by pacing are already in its
        waits; counting them again would make the drain poll without pause.
        """
        pending = Delivery.objects.filter(status=Status.PENDING)
        if after is not None:
            pending = pending.filter(due_at__gt=after)
        due = pending.aggregate(m=Min("due_at"))["m"]
        claimed = Delivery.objects.filter(status=Status.SENDING).aggregate(m=Min("claimed_at"))["m"]
        # No claim can run out before the oldest one does (later claims end later).
        expiry = claimed + self.policy.lease if claimed else None
        self._recover_at = expiry or self.clock() + self.policy.lease
        times = [t for t in (due, expiry) if t]
        return min(times) if times else None

    def recover_stale(self, now: datetime | None = None) -> int:
        """Rows left 'sending' longer than the lease: back to pending, or 'unknown' if started.

        See ``claims.recover_stale``.
        """
        return claims.recover_stale(now or self.clock(), self.policy.lease)

    @staticmethod
    def _batches(channel: Channel) -> bool:
        """Channels without a rate limit (email) send many destinations per claim."""
        return channel.rate_limit is None

    # -- one destination (rate-limited channels) ----------------------------------------------

    def dispatch_destination(self, destination: str, report: DispatchReport) -> float | None:
        """Send one message (a single notice or a digest) to ``destination`` if it may send now.

        Returns the seconds to wait when pacing holds the destination back.
        """
        now = self.clock()
        token = uuid.uuid4().hex
        with transaction.atomic():
            # One destination's rows carry distinct notices: joining them in copies nothing.
            rows = list(
                Delivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("notice_record")
                .filter(destination=destination, status=Status.PENDING, due_at__lte=now)
                .order_by("due_at", "id")[: self.max_rows_per_message]
            )
            if not rows:
                return None
            channel = self.channels.get(rows[0].channel)
            if channel is None:
                Delivery.objects.filter(pk__in=[r.pk for r in rows], status=Status.PENDING).update(
                    status=Status.FAILED, last_error=f"unknown channel '{rows[0].channel}'"
                )
                report.failed += len(rows)
                return None
            candidates = rows
            groupable = [r for r in rows if r.groupable]
            rows = groupable or rows[:1]
            backlog = False
            if len(rows) > 1:
                fit = channel.capacity([self._notice(r) for r in rows])
                backlog = len(rows) > fit
                rows = rows[:fit]
            # A backlog larger than one message drains at the rate limit; the grouping
            # interval applies once what is waiting fits one message.
            grouping = bool(groupable) and not backlog
            wait, window = pace(destination, channel, now, grouping, self.group_interval)
            if wait > 0 and grouping:
                # An edit or reply adds no message to the channel: it need not wait for the
                # grouping window that holds the next digest.
                ready = updates.ready(list(candidates))
                if ready:
                    rows = ready[:1]
                    wait, window = pace(destination, channel, now, False, self.group_interval)
            if wait > 0:
                return wait
            claims.claim(rows, token, now, started=True)
        self._cover_claims(now)
        with claims.keep_lease(token, [r.pk for r in rows], self.policy.lease, self.clock):
            self._deliver(
                channel,
                Message(destination, rows),
                self.directory.resolve(destination),
                token,
                report,
                window,
            )
        if channel.rate_limit is not None:
            refilled_at(destination, self.clock())
        return None
