"""The outbox: every delivery is a row before anything is sent; the dispatcher drains it.

Guarantees, and how:
- nothing lost: rows are written in the caller's transaction; transient failures (network,
  5xx, SMTP 4xx) come back as pending with exponential backoff (from two seconds) and jitter
  until a maximum number of attempts or an age counted from the first due time, then fail
  with the reason;
- nothing twice: a delivery's key is unique (enqueueing the same notice again is a no-op);
  rows are locked with ``select_for_update(skip_locked)`` and claimed with a token, and every
  later write (sent, failed, retry) is conditional on that token, so two workers never send
  the same row and a worker whose claim expired cannot overwrite a row claimed again;
- a dead worker: claims are short leases (30 s), renewed by a heartbeat while a message or an
  email batch is being sent (a slow mail server keeps its claim); a row whose lease ran out is
  marked 'unknown' (it may have arrived; sending again could duplicate it) and is resolved if
  its worker was only slow and reports after all;
- one clock: claims, lease expiry, the waiting drain's lease and pacing are measured on the
  database's clock (:class:`DatabaseClock`), so app servers whose clocks disagree neither steal
  live claims nor leave dead ones;
- on time: the drain waits in short steps for work due soon, one waiting drain at a time,
  and reports when work is next due so the caller can wake a drain then;
- bounded: a drain stops starting new messages at its deadline; the rest waits for the next;
- rate limits: a token bucket and a Retry-After block per destination, kept in the database so
  every worker shares them; a 429 reschedules, nobody sleeps for long;
- grouping, for every channel (email too): a destination's first notice goes out at once, the
  ones arriving within the grouping interval after a *delivered* message are folded into one
  digest. A failed attempt delivered nothing, so it opens no window: the destination is held
  until the retry (its backoff or Retry-After), and whatever was queued for it meanwhile rides
  along in the retry's message;
- channels without a rate limit (email) are sent in batches: one claim, one lookup of the
  recipients and one connection for many messages.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from .channels.base import Channel, Destination, Outcome, SendResult, Skip
from .models import Condition, Delivery, DestinationState, Lease, NoticeRecord
from .notice import Notice, stable_uid
from .routing.plan import PlannedDelivery

logger = logging.getLogger("inventree")

Status = Delivery.Status

ENQUEUE_CHUNK = 1000
WAITER = "drain-waiter"  # held by the one drain that waits for work due soon
WAITER_HOLD = timedelta(seconds=10)  # the waiter renews it with 5 s left; a dead one frees it
NOT_STARTED = "-"  # message_id of a batch's claimed rows until their message is being sent
# A waiting drain wakes at the next due time it knows of, and at least this often to look for
# work queued meanwhile (new notices also get a drain of their own after their commit).
WAIT_STEP = 2.0
RECOVER_EVERY = timedelta(seconds=5)  # least spacing of the stale-claim check within a drain
QUEUED = "drain-queued"  # set while a drain task waits in the worker queue
CLOCK_RESYNC = 10.0  # seconds between readings of the database's clock (monotonic in between)
# A send still going after this long is no longer kept alive: its worker is taken for hung and
# the claim may run out (InvenTree's task timeout ends a worker long before, 90 s by default).
HEARTBEAT_LIMIT = 600.0

# The database's current time. PostgreSQL's now() is the transaction's start; these are the
# time of the call. SQLite is a file on this host: its clock is this host's clock.
_NOW_SQL = {"postgresql": "SELECT CLOCK_TIMESTAMP()", "mysql": "SELECT UTC_TIMESTAMP(6)"}


def database_now() -> datetime:
    """The database server's time now: the one clock every app server shares.

    In Django's form, like ``timezone.now()``: aware (UTC) with ``USE_TZ``, else naive local
    time (InvenTree turns ``USE_TZ`` off in its test mode).
    """
    sql = _NOW_SQL.get(connection.vendor)
    if sql is None:
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # a driver that answers text
        value = datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if timezone.is_naive(value) else value.astimezone(UTC)
    return value if settings.USE_TZ else timezone.make_naive(value)


class DatabaseClock:
    """The dispatcher's clock: the database's time, read once per ``resync`` seconds.

    Between readings it advances with a monotonic timer, so it costs one query per ``resync``
    seconds, not one per timestamp, and a jump of this server's wall clock changes nothing.
    Where the database is a local file (SQLite) it is simply this host's clock.
    """

    def __init__(
        self,
        resync: float = CLOCK_RESYNC,
        source: Callable[[], datetime] = database_now,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resync = resync
        self.source = source
        self.timer = timer
        self._mark: tuple[datetime, float] | None = None  # (database time, timer) at a reading

    def __call__(self) -> datetime:
        """The database's time now."""
        if self.source is database_now and connection.vendor not in _NOW_SQL:
            return timezone.now()
        mark, at = self._mark, self.timer()
        if mark is None or at - mark[1] >= self.resync:
            mark = self._mark = (self.source(), self.timer())
        return mark[0] + timedelta(seconds=max(0.0, self.timer() - mark[1]))


class Directory(Protocol):
    """Resolves stored destination keys to live addresses at send time.

    Webhook URLs are secrets and user addresses change, so the outbox stores only keys.
    A directory may also offer ``resolve_many(keys) -> dict`` and ``existing(refs) -> set``
    to look many up at once (email batches, digests).
    """

    def resolve(self, key: str) -> Destination | Skip:
        """The destination for ``key`` now, or why it cannot be delivered."""

    def target_exists(self, object_ref: str) -> bool:
        """Whether the object the notice is about still exists."""


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


def delivery_key(notice_uid: str, destination: str) -> str:
    """The identity of one delivery: the same notice to the same destination is one row."""
    return stable_uid(notice_uid, destination)


def enqueue(notice: Notice, planned: Iterable[PlannedDelivery], now: datetime | None = None) -> int:
    """Write one pending row per planned delivery; already-known deliveries are ignored.

    Returns how many rows are new. Call it inside the transaction that decided to notify:
    when it returns, every planned delivery exists (new or already known). The notice is
    stored once; rows are written in chunks, so memory stays flat for any number of them.
    Without ``now``, rows are due at the database's time (the dispatcher's clock).
    """
    now = now or database_now()
    plans = iter(planned)
    chunk = list(islice(plans, ENQUEUE_CHUNK))
    if not chunk:
        return 0
    created = 0
    with transaction.atomic(savepoint=False):
        record = _notice_record(notice, now)
        while chunk:
            created += _insert(notice, record, chunk, now)
            chunk = list(islice(plans, ENQUEUE_CHUNK))
    return created


def _insert(
    notice: Notice, record: NoticeRecord, plans: list[PlannedDelivery], now: datetime
) -> int:
    """Insert one chunk of rows, skipping keys already there; returns how many are new.

    On PostgreSQL one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`` per chunk (a
    category starred by 10,000 users is queued in well under two seconds); elsewhere Django's
    ``bulk_create``. A process enqueueing the same notice at the same moment keeps its rows and
    ours are dropped: either way every planned delivery exists.
    """
    if connection.vendor == "postgresql":
        return _insert_postgres(notice, record, plans, now)
    rows = {r.key: r for r in (_row(notice, record, plan, now) for plan in plans)}
    known = set(Delivery.objects.filter(key__in=list(rows)).values_list("key", flat=True))
    fresh = [r for k, r in rows.items() if k not in known]
    Delivery.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


# Columns that differ per delivery (sent as arrays) and per notice (sent once), with SQL types.
_PER_ROW = {
    "key": "varchar",
    "channel": "varchar",
    "destination": "varchar",
    "destination_label": "varchar",
    "mentions": "jsonb",
    "groupable": "boolean",
    "due_at": "timestamptz",
    "first_due_at": "timestamptz",
}
_PER_NOTICE = {
    "notice_uid": "varchar",
    "notice_record_id": "bigint",
    "category": "varchar",
    "title": "varchar",
    "status": "varchar",
    "attempts": "integer",
    "claim_token": "varchar",
    "message_id": "varchar",
    "last_error": "text",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
}


def _insert_postgres(
    notice: Notice, record: NoticeRecord, plans: list[PlannedDelivery], now: datetime
) -> int:
    column = {f.name: f.column for f in Delivery._meta.concrete_fields}
    column["notice_record_id"] = Delivery._meta.get_field("notice_record").column
    qn = connection.ops.quote_name
    names = [*_PER_ROW, *_PER_NOTICE]
    arrays = ", ".join(f"%s::{t}[]" for t in _PER_ROW.values())
    scalars = ", ".join(f"%s::{t}" for t in _PER_NOTICE.values())
    fields = ", ".join(f"u.c{i}" for i in range(len(_PER_ROW)))
    # Only identifiers from the model and fixed type names are formatted in; values are params.
    sql = (
        f"INSERT INTO {qn(Delivery._meta.db_table)} ({', '.join(qn(column[n]) for n in names)}) "  # noqa: S608
        f"SELECT {fields}, {scalars} FROM unnest({arrays}) "
        f"AS u({', '.join(f'c{i}' for i in range(len(_PER_ROW)))}) "
        f"ON CONFLICT ({qn(column['key'])}) DO NOTHING"
    )
    per_row: dict[str, list] = {name: [] for name in _PER_ROW}
    for plan in plans:
        due = plan.due_at or now
        per_row["key"].append(delivery_key(notice.uid, plan.destination))
        per_row["channel"].append(plan.channel)
        per_row["destination"].append(plan.destination)
        per_row["destination_label"].append(plan.label[:250])
        per_row["mentions"].append(json.dumps(list(plan.mentions)))
        per_row["groupable"].append(plan.groupable)
        per_row["due_at"].append(due)
        per_row["first_due_at"].append(due)
    once = [
        notice.uid,
        record.pk,
        notice.category[:100],
        notice.title[:250],
        Status.PENDING.value,
        0,
        "",
        "",
        "",
        now,
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*once, *per_row.values()])  # in the order of the placeholders
        return cursor.rowcount


def _notice_record(notice: Notice, now: datetime) -> NoticeRecord:
    """The notice's one stored copy: insert unless there (no savepoint), then read it."""
    NoticeRecord.objects.bulk_create(
        [
            NoticeRecord(
                uid=notice.uid,
                data=notice.to_dict(),
                object_ref=notice.object_ref[:200],
                created_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    return NoticeRecord.objects.get(uid=notice.uid)


def _row(notice: Notice, record: NoticeRecord, plan: PlannedDelivery, now: datetime) -> Delivery:
    due = plan.due_at or now
    return Delivery(
        key=delivery_key(notice.uid, plan.destination),
        notice_uid=notice.uid,
        notice_record=record,
        category=notice.category[:100],
        title=notice.title[:250],
        channel=plan.channel,
        destination=plan.destination,
        destination_label=plan.label[:250],
        mentions=list(plan.mentions),
        due_at=due,
        first_due_at=due,
        created_at=now,
        groupable=plan.groupable,
    )


@dataclass
class DispatchReport:
    """What one dispatcher pass did (for logs, the test action and benchmarks)."""

    messages: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    results: list[SendResult] = field(default_factory=list)
    next_due: datetime | None = None


@dataclass
class _Message:
    """One message to send: a destination and the claimed rows it carries."""

    destination: str
    rows: list[Delivery]


@dataclass
class _Window:
    """Grouping windows opened by claiming messages: ``last_sent_at`` set to ``opened``.

    Opened with the claim, so that no other worker sends to the destination while the message
    is on its way; closed again (``last_sent_at`` back to what it was ``before``) when nothing
    was delivered: a failed attempt opens no window.
    """

    opened: datetime
    before: dict[str, datetime | None]


class Dispatcher:
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
        self._holder = uuid.uuid4().hex
        self.timer: Callable[[], float] = time.monotonic  # deadlines and lease renewal

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
                    waiting = self._hold(WAITER, WAITER_HOLD)
                    renew_at = self.timer() + WAITER_HOLD.total_seconds() / 2
                if not waiting:
                    break
                sleep(min(left, WAIT_STEP))
        finally:
            if waiting:
                self._release(WAITER)
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

    @staticmethod
    def _batches(channel: Channel) -> bool:
        """Channels without a rate limit (email) send many destinations per claim."""
        return channel.rate_limit is None

    # -- batches (email) --------------------------------------------------------------------

    def dispatch_batch(self, kind: str, report: DispatchReport, deadline: float | None) -> bool:
        """Claim up to ``batch_size`` messages of one channel at once and send them.

        One batch per pass, so a large email backlog never keeps the webhook destinations
        waiting (the drain loop comes back for the next batch). Each recipient's message takes
        all their due rows (up to ``max_rows_per_message``), so a burst becomes one digest per
        person, not one per handful of notices. A recipient emailed within the grouping
        interval, or waiting for a retry, is held back (:meth:`_hold_back`). One claim, one
        lookup of all recipients, one connection for the batch; a heartbeat renews the lease
        while the batch is sent. Returns whether anything was sent, settled or held back.
        """
        if deadline is not None and self.timer() >= deadline:
            return False
        channel = self.channels[kind]
        now = self.clock()
        due = Delivery.objects.filter(channel=kind, status=Status.PENDING, due_at__lte=now)
        first = due.order_by("due_at", "id").values_list("destination", flat=True)
        destinations = list(dict.fromkeys(first[: self.batch_size * 4]))[: self.batch_size]
        if not destinations:
            return False
        claim = uuid.uuid4().hex
        with transaction.atomic():
            rows = list(
                due.select_for_update(skip_locked=True)
                .filter(destination__in=destinations)
                .order_by("destination", "due_at", "id")[: self.max_rows_per_batch]
            )
            if not rows:
                return False
            states = self._lock_states(sorted({r.destination for r in rows}), now)
            rows, held = self._hold_back(rows, states, now)
            self._attach_notices(rows)
            messages = self._messages(channel, rows)
            if not messages:
                return held
            window = self._open([m.destination for m in messages], states, now)
            self._claim([r for m in messages for r in m.rows], claim, now, started=False)
        self._cover_claims(now)
        resolved = self._resolve_all([m.destination for m in messages])
        ids = [r.pk for m in messages for r in m.rows]
        with self._keep_lease(claim, ids) as beating, channel.batch():
            renewed = self.timer()
            for i, message in enumerate(messages):
                if deadline is not None and self.timer() >= deadline:
                    self._unclaim(claim, [r.pk for m in messages[i:] for r in m.rows])
                    self._close(window, [m.destination for m in messages[i:]])
                    return True
                if not beating and self.timer() - renewed > self.policy.lease.total_seconds() / 3:
                    self._renew(claim, [r.pk for m in messages[i:] for r in m.rows])
                    renewed = self.timer()
                if self._start(claim, message):
                    self._deliver(
                        channel, message, resolved[message.destination], claim, report, window
                    )
                else:
                    self._close(window, [message.destination])
        return True

    def _lock_states(self, destinations: list[str], now: datetime) -> dict[str, DestinationState]:
        """The pacing state of these destinations, created if new, locked until the claim commits.

        Every worker creates and locks them in the same order (by name), so two batches never
        wait for each other in a circle; a worker claiming for a destination another has just
        claimed for waits for that claim and then sees the window it opened.
        """
        DestinationState.objects.bulk_create(
            [DestinationState(destination=d, tokens=0.0, refilled_at=now) for d in destinations],
            ignore_conflicts=True,
        )
        locked = (
            DestinationState.objects.select_for_update()
            .filter(destination__in=destinations)
            .order_by("destination")
        )
        return {state.destination: state for state in locked}

    def _hold_back(
        self, rows: list[Delivery], states: dict[str, DestinationState], now: datetime
    ) -> tuple[list[Delivery], bool]:
        """Leave out the rows of destinations that must wait; make them due when they may go.

        A destination waits while it is blocked until a retry (a failure's backoff, a
        Retry-After), and its groupable rows wait out the grouping interval after a delivered
        message. Made due then, they go out together with whatever arrives meanwhile, as one
        digest. While the message that opened a window is still being sent (by another
        worker), they are looked at again after a short step: if it fails, the window closes.
        Returns the rows that may go now, and whether any were held back.
        """
        blocked: dict[str, datetime] = {}
        window: dict[str, datetime] = {}
        for key, state in states.items():
            if state.blocked_until and state.blocked_until > now:
                blocked[key] = state.blocked_until
            if state.last_sent_at and state.last_sent_at + self.group_interval > now:
                window[key] = state.last_sent_at + self.group_interval
        grouped = {r.destination for r in rows if r.groupable and r.destination in window}
        if grouped:
            step = now + timedelta(seconds=WAIT_STEP)
            busy = Delivery.objects.filter(destination__in=grouped, status=Status.SENDING)
            for key in set(busy.values_list("destination", flat=True)):
                window[key] = min(window[key], step)
        free: list[Delivery] = []
        later: dict[datetime, list[int]] = {}
        for row in rows:
            waits = [blocked.get(row.destination), window.get(row.destination)]
            until = max((w for w in waits[: 2 if row.groupable else 1] if w), default=None)
            if until is None:
                free.append(row)
            else:
                later.setdefault(until, []).append(row.pk)
        for until, ids in later.items():
            Delivery.objects.filter(pk__in=ids).update(due_at=until)
        return free, bool(later)

    def _open(
        self, destinations: list[str], states: dict[str, DestinationState], now: datetime
    ) -> _Window:
        """Open the grouping window of destinations whose messages are being claimed."""
        DestinationState.objects.filter(destination__in=destinations).update(
            last_sent_at=now, refilled_at=now
        )
        return _Window(now, {key: states[key].last_sent_at for key in destinations})

    def _close(self, window: _Window | None, destinations: Sequence[str]) -> None:
        """Nothing was delivered to these destinations: the windows their claims opened close.

        Only where no later claim has opened another since.
        """
        if window is None:
            return
        before: dict[datetime | None, list[str]] = {}
        for key in destinations:
            before.setdefault(window.before.get(key), []).append(key)
        for value, keys in before.items():
            DestinationState.objects.filter(
                destination__in=keys, last_sent_at=window.opened
            ).update(last_sent_at=value)

    def _messages(self, channel: Channel, rows: list[Delivery]) -> list[_Message]:
        """Group locked rows into at most ``batch_size`` messages, one per destination."""
        by_destination: dict[str, list[Delivery]] = {}
        for row in rows:
            by_destination.setdefault(row.destination, []).append(row)
        messages = []
        for destination, mine in by_destination.items():
            groupable = [r for r in mine if r.groupable][: self.max_rows_per_message]
            chosen = groupable or mine[:1]
            if len(chosen) > 1:
                chosen = chosen[: channel.capacity([self._notice(r) for r in chosen])]
            messages.append(_Message(destination, chosen))
            if len(messages) >= self.batch_size:
                break
        return messages

    def _resolve_all(self, keys: list[str]) -> dict[str, Destination | Skip]:
        many = getattr(self.directory, "resolve_many", None)
        if many is not None:
            found = dict(many(keys))
            return {k: found.get(k, Skip(f"unknown destination '{k}'")) for k in keys}
        return {k: self.directory.resolve(k) for k in keys}

    # -- one destination (rate-limited channels) ----------------------------------------------

    def dispatch_destination(self, destination: str, report: DispatchReport) -> float | None:
        """Send one message (a single notice or a digest) to ``destination`` if it may send now.

        Returns the seconds to wait when pacing holds the destination back.
        """
        now = self.clock()
        claim = uuid.uuid4().hex
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
            groupable = [r for r in rows if r.groupable]
            rows = groupable or rows[:1]
            backlog = False
            if len(rows) > 1:
                fit = channel.capacity([self._notice(r) for r in rows])
                backlog = len(rows) > fit
                rows = rows[:fit]
            # A backlog larger than one message drains at the rate limit; the grouping
            # interval applies once what is waiting fits one message.
            wait, window = self._pace(
                destination, channel, now, grouping=bool(groupable) and not backlog
            )
            if wait > 0:
                return wait
            self._claim(rows, claim, now, started=True)
        self._cover_claims(now)
        with self._keep_lease(claim, [r.pk for r in rows]):
            self._deliver(
                channel,
                _Message(destination, rows),
                self.directory.resolve(destination),
                claim,
                report,
                window,
            )
        if channel.rate_limit is not None:
            # Refill from when the request was done, not from when the token was taken: the
            # time between the two varies (a busy worker), and the service counts arrivals.
            done = self.clock()
            DestinationState.objects.filter(destination=destination, refilled_at__lt=done).update(
                refilled_at=done
            )
        return None

    def _attach_notices(self, rows: list[Delivery]) -> None:
        """Load each notice once for all its rows (one query), not a copy per row.

        A batch of 50 recipients' digests carries the same notices 50 times over; one shared
        record per notice keeps memory to the notices, not the rows.
        """
        ids = {r.notice_record_id for r in rows if r.notice_record_id}
        records = NoticeRecord.objects.in_bulk(ids) if ids else {}
        for row in rows:
            if row.notice_record_id in records:
                row.notice_record = records[row.notice_record_id]

    def _notice(self, row: Delivery) -> Notice:
        """The row's notice, parsed once per pass."""
        key = row.notice_record_id or -row.pk
        if key not in self._notices:
            self._notices[key] = Notice.from_dict(row.notice)
        return self._notices[key]

    def _claim(self, rows: list[Delivery], claim: str, now: datetime, started: bool) -> None:
        """Mark locked rows as being sent under ``claim`` (in the locking transaction).

        ``started``: their one message is sent right away. A batch's rows are claimed as not
        started; each message is started in turn (:meth:`_start`), so a worker dying mid-batch
        leaves only the message it was sending in doubt and the rest goes back to pending.
        """
        message_id = uuid.uuid4().hex if started else NOT_STARTED
        Delivery.objects.filter(pk__in=[r.pk for r in rows], status=Status.PENDING).update(
            status=Status.SENDING,
            claim_token=claim,
            claimed_at=now,
            attempts=F("attempts") + 1,
            message_id=message_id,
        )
        for row in rows:
            row.status, row.claim_token, row.claimed_at = Status.SENDING, claim, now
            row.attempts += 1

    def _cover_claims(self, now: datetime) -> None:
        """After the claim commits: have a drain come when it runs out (once per dispatcher).

        Outside the claim's transaction, so that a failure here (logged) cannot undo the claim;
        the minutely sweep remains the fallback.
        """
        if self.on_claim is None or self._claims_covered:
            return
        self._claims_covered = True
        try:
            self.on_claim(now + self.policy.lease)
        except Exception:
            logger.exception("Notify Plus: could not schedule a drain for the claims' lease")

    def _start(self, claim: str, message: _Message) -> bool:
        """Mark a batch message as being sent now; False (and not sent) if the claim was lost.

        Compare-and-set on the claim token: rows whose lease ran out before their turn went back
        to pending and may have been claimed by another worker, which then sends them.
        """
        ids = [r.pk for r in message.rows]
        started = Delivery.objects.filter(
            pk__in=ids, claim_token=claim, status=Status.SENDING
        ).update(message_id=uuid.uuid4().hex, claimed_at=self.clock())
        if started == len(ids):
            return True
        if started:
            self._unclaim(claim, ids)
        return False

    def _unclaim(self, claim: str, ids: list[int]) -> None:
        """Give back rows of a batch not sent before the deadline (no attempt used)."""
        Delivery.objects.filter(pk__in=ids, claim_token=claim, status=Status.SENDING).update(
            status=Status.PENDING, claim_token="", attempts=F("attempts") - 1, message_id=""
        )

    def _renew(self, claim: str, ids: list[int]) -> None:
        """Extend the lease of rows still waiting in a batch being sent."""
        Delivery.objects.filter(pk__in=ids, claim_token=claim, status=Status.SENDING).update(
            claimed_at=self.clock()
        )

    @contextmanager
    def _keep_lease(self, claim: str, ids: list[int]) -> Iterator[bool]:
        """Renew the claim of ``ids`` every third of the lease while the block runs.

        A heartbeat thread (with its own database connection), so that a message the service
        is slow to accept (a mail server taking its time) is not taken for a dead worker's and
        marked 'unknown'; for at most ``HEARTBEAT_LIMIT`` seconds. Yields whether it beats: not
        inside a transaction, where the claim is not visible to another connection yet (and
        renewing it would wait for this one).
        """
        every = self.policy.lease.total_seconds() / 3
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
                    self._renew(claim, ids)
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

    def _pace(
        self, destination: str, channel: Channel, now: datetime, grouping: bool
    ) -> tuple[float, _Window | None]:
        """Block until a retry, grouping window, rate limit: the seconds to wait, or 0.

        When it may send it takes a token and opens the grouping window (closed again if
        nothing is delivered).
        """
        limit = channel.rate_limit
        state = DestinationState.objects.select_for_update().filter(destination=destination).first()
        if state is None:
            DestinationState.objects.get_or_create(
                destination=destination,
                defaults={"tokens": float(limit.burst if limit else 1), "refilled_at": now},
            )
            state = DestinationState.objects.select_for_update().get(destination=destination)
        if state.blocked_until and state.blocked_until > now:
            return (state.blocked_until - now).total_seconds(), None
        if grouping and state.last_sent_at and now < state.last_sent_at + self.group_interval:
            wait = (state.last_sent_at + self.group_interval - now).total_seconds()
            if Delivery.objects.filter(destination=destination, status=Status.SENDING).exists():
                wait = min(wait, WAIT_STEP)  # its message may yet fail, closing the window
            return wait, None
        if limit:
            elapsed = max(0.0, (now - state.refilled_at).total_seconds())
            tokens = min(float(limit.burst), state.tokens + elapsed * limit.per_second)
            if tokens < 1.0:
                return (1.0 - tokens) / limit.per_second, None
            state.tokens = tokens - 1.0
            state.refilled_at = now
        window = _Window(now, {destination: state.last_sent_at})
        state.last_sent_at = now
        state.save(update_fields=["tokens", "refilled_at", "last_sent_at"])
        return 0.0, window

    # -- sending and recording --------------------------------------------------------------

    def _deliver(
        self,
        channel: Channel,
        message: _Message,
        resolved: Destination | Skip,
        claim: str,
        report: DispatchReport,
        window: _Window | None = None,
    ) -> None:
        """Send one message and record its outcome.

        A message that delivered nothing (it failed, or every row was skipped) closes the
        grouping window its claim opened.
        """
        live: list[Delivery] = []
        gone: list[Delivery] = []
        refs = {r: r.notice_record.object_ref if r.notice_record_id else "" for r in message.rows}
        self._check_exist({ref for ref in refs.values() if ref})
        for row, ref in refs.items():
            (gone if ref and not self._exists_cache.get(ref, True) else live).append(row)
        if gone:
            self._settle(gone, claim, Status.SKIPPED, "the object was deleted before sending")
            report.skipped += len(gone)
        if not live:
            self._close(window, [message.destination])
            return
        if isinstance(resolved, Skip):
            self._settle(live, claim, Status.SKIPPED, resolved.reason)
            report.skipped += len(live)
            self._close(window, [message.destination])
            return
        notices = [self._notice(r) for r in live]
        mentions = sorted({m for r in live for m in (r.mentions or [])})
        try:
            result = channel.send(resolved, notices, mentions)
        except Exception as exc:  # a bug must not strand the rows in 'sending'
            logger.exception("Notify Plus: %s channel raised while sending", channel.kind)
            result = SendResult.retry(f"internal error: {type(exc).__name__}")
        report.messages += 1
        report.results.append(result)
        self._record(message.destination, channel, live, claim, result, report)
        if result.outcome != Outcome.SENT:
            self._close(window, [message.destination])

    def _check_exist(self, refs: set[str]) -> None:
        """Find out which of ``refs`` still exist, all at once where the directory can.

        A digest of 1000 notices costs one query per model, not one per notice. When the check
        itself fails the notices are sent (a deleted part announced beats a notice lost).
        """
        unknown = refs - self._exists_cache.keys()
        if not unknown:
            return
        try:
            many = getattr(self.directory, "existing", None)
            if many is not None:
                found = set(many(unknown))
                self._exists_cache.update({ref: ref in found for ref in unknown})
                return
            for ref in unknown:
                self._exists_cache[ref] = self.directory.target_exists(ref)
        except Exception:
            logger.exception("Notify Plus: could not check whether the notices' objects exist")

    @staticmethod
    def _mine(rows: Sequence[Delivery], claim: str) -> QuerySet[Delivery]:
        """Rows still under ``claim``.

        Sending, or marked 'unknown' after the lease ran out (a slow worker's late answer
        settles them); never rows claimed again since.
        """
        return Delivery.objects.filter(
            pk__in=[r.pk for r in rows],
            claim_token=claim,
            status__in=[Status.SENDING, Status.UNKNOWN],
        )

    def _settle(self, rows: Sequence[Delivery], claim: str, status: str, reason: str) -> int:
        return self._mine(rows, claim).update(
            status=status, last_error=reason, claim_token="", updated_at=self.clock()
        )

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
        label = rows[0].destination_label
        if result.outcome == Outcome.SENT:
            self._mine(rows, claim).update(
                status=Status.SENT,
                sent_at=now,
                last_error="",
                claim_token="",
                updated_at=now,
            )
            report.sent += len(rows)
            logger.info(
                "Notify Plus: sent %s notice(s) by %s to %s", len(rows), channel.kind, label
            )
            return
        if result.outcome == Outcome.PERMANENT:
            self._settle(rows, claim, Status.FAILED, result.detail)
            report.failed += len(rows)
            logger.warning(
                "Notify Plus: %s delivery to %s failed permanently: %s",
                channel.kind,
                label,
                result.detail,
            )
            return
        self._reschedule(key, channel, rows, claim, result, now, report)

    def _reschedule(
        self,
        key: str,
        channel: Channel,
        rows: list[Delivery],
        claim: str,
        result: SendResult,
        now: datetime,
        report: DispatchReport,
    ) -> None:
        """Back to pending with backoff, or failed when out of attempts or too old.

        Age counts from the first due time: a digest row queued a day before it was due is
        not too old on its first transient error. A 429 does not use up an attempt. The rows of
        one message are retried together, at the backoff of the most-tried (or the Retry-After),
        and the destination is blocked until then: what is queued for it meanwhile goes along
        in the retry's message instead of ahead of it.
        """
        rate_limited = result.status == 429
        if result.retry_after is not None and rate_limited and "global" in result.detail:
            DestinationState.objects.filter(destination__startswith=f"{channel.kind}:").update(
                blocked_until=now + timedelta(seconds=result.retry_after)
            )
        give_up: dict[str, list[Delivery]] = {}
        retry: list[Delivery] = []
        for row in rows:
            attempts = row.attempts - 1 if rate_limited else row.attempts
            start = max(row.created_at, row.first_due_at or row.created_at)
            if now - start > self.policy.max_age:
                give_up.setdefault(f"older than {self.policy.max_age}", []).append(row)
            elif attempts >= self.policy.max_attempts:
                give_up.setdefault(f"{attempts} attempts", []).append(row)
            else:
                retry.append(row)
        undo = F("attempts") - 1 if rate_limited else F("attempts")
        for why, group in give_up.items():
            report.failed += self._mine(group, claim).update(
                status=Status.FAILED,
                attempts=undo,
                last_error=f"gave up after {why}: {result.detail}",
                claim_token="",
                updated_at=now,
            )
        until = now + timedelta(seconds=result.retry_after) if result.retry_after else None
        if retry:
            tried = max(r.attempts - 1 if rate_limited else r.attempts for r in retry)
            delay = self.policy.backoff(max(1, tried))
            if result.retry_after is not None:
                delay = max(result.retry_after, delay if not rate_limited else 0.0)
            until = now + timedelta(seconds=delay)
            report.retried += self._mine(retry, claim).update(
                status=Status.PENDING,
                attempts=undo,
                due_at=until,
                last_error=result.detail,
                claim_token="",
                message_id="",
                updated_at=now,
            )
        if until is not None:
            DestinationState.objects.filter(destination=key).update(blocked_until=until)

    # -- leases -----------------------------------------------------------------------------

    def recover_stale(self, now: datetime | None = None) -> int:
        """Rows left 'sending' longer than the lease: their worker died (or hangs).

        Rows of a batch whose message was never started go back to pending (no attempt used):
        nothing of them was sent. For a started message the message may or may not have reached
        the service; sending again could duplicate it, so its rows are marked 'unknown' with the
        reason, for the admin to see. The claim token stays: if the worker was only slow, its
        answer still settles the row.
        """
        now = now or self.clock()
        stale = Delivery.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - self.policy.lease
        )
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

    def _hold(self, name: str, length: timedelta) -> bool:
        """Take or renew the lease ``name`` for this dispatcher; False if another holds it."""
        now = self.clock()
        Lease.objects.get_or_create(name=name)
        return bool(
            Lease.objects.filter(name=name)
            .filter(Q(until__isnull=True) | Q(until__lt=now) | Q(holder=self._holder))
            .update(holder=self._holder, until=now + length)
        )

    def _release(self, name: str) -> None:
        Lease.objects.filter(name=name, holder=self._holder).update(holder="", until=None)


def counts(since: datetime | None = None) -> dict[str, int]:
    """Deliveries per status (created since ``since`` if given), for the delivery log."""
    result = {s.value: 0 for s in Status}
    rows = Delivery.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    for row in rows.order_by().values("status").annotate(n=Count("id")):
        result[row["status"]] = row["n"]
    return result


def prune(days: int, now: datetime | None = None) -> int:
    """Delete finished deliveries, their notices and ended conditions older than ``days``.

    0 keeps all.
    """
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    done = [Status.SENT, Status.FAILED, Status.SKIPPED, Status.UNKNOWN]
    deleted, _ = Delivery.objects.filter(status__in=done, created_at__lt=cutoff).delete()
    NoticeRecord.objects.filter(created_at__lt=cutoff, deliveries__isnull=True).delete()
    DestinationState.objects.filter(refilled_at__lt=cutoff).exclude(
        destination__in=Delivery.objects.filter(status=Status.PENDING).values("destination")
    ).delete()
    Condition.objects.filter(since__lt=cutoff, detail__ended=True).delete()
    return deleted


def take_token(destination: str, channel: Channel, now: datetime | None = None) -> float:
    """Take a token for a message sent outside the dispatcher (an admin's test send).

    The same bucket and Retry-After block the dispatcher honours, so a test cannot push a
    destination over the service's limit: 0.0 when it may send now (the token is taken), else
    the seconds to wait. The grouping interval is left alone: a test message is not a notice.
    """
    limit = channel.rate_limit
    now = now or timezone.now()
    with transaction.atomic():
        state = DestinationState.objects.select_for_update().filter(destination=destination).first()
        if state is None:
            if limit is None:
                return 0.0
            DestinationState.objects.get_or_create(
                destination=destination,
                defaults={"tokens": float(limit.burst), "refilled_at": now},
            )
            state = DestinationState.objects.select_for_update().get(destination=destination)
        if state.blocked_until and state.blocked_until > now:
            return (state.blocked_until - now).total_seconds()
        if limit is None:
            return 0.0
        elapsed = max(0.0, (now - state.refilled_at).total_seconds())
        tokens = min(float(limit.burst), state.tokens + elapsed * limit.per_second)
        if tokens < 1.0:
            return (1.0 - tokens) / limit.per_second
        state.tokens = tokens - 1.0
        state.refilled_at = now
        state.save(update_fields=["tokens", "refilled_at"])
    return 0.0
