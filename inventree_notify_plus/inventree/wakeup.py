"""When a drain runs: right after the commit, queued for the worker, or scheduled (InvenTree edge).

New deliveries ask for a drain (:func:`request_drain`): inside InvenTree's worker it runs at
once, for a short while; elsewhere one drain task is queued (:func:`queue_drain`), however many
ask. A drain that stops with work left has the next one come when it is due (:func:`wake_at`):
queued now if that is within a scheduler tick, else a one-off django-q2 schedule
(:func:`schedule_wake`), which also covers a worker killed while holding claims.

Times the outbox reports (when work is next due) and the drain leases are on the database's
clock, like the outbox's claims, so that app servers whose clocks disagree agree on them; only
the one-off schedules are on this server's clock, as django-q2's scheduler reads it. The task
paths django-q2 stores in its queue and schedules name ``tasks.py``'s entry points.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from .worker_dispatcher import active_plugin, build_dispatcher

logger = logging.getLogger("inventree")

# The worker's task entry points, by the dotted paths django-q2 stores (they must not move).
DRAIN_TASK = "inventree_notify_plus.tasks.drain"
FLUSH_TASK = "inventree_notify_plus.tasks.flush_email"
BEST_EFFORT_TASK = "inventree_notify_plus.tasks.send_best_effort"

# django-q2's cluster runs its scheduler about every 30 s (its guard loop counts to 30).
SCHEDULER_TICK = 30.0
WAKE_SCHEDULE = "notify-plus.wake"
FLUSH_SCHEDULE = "notify-plus.flush"
QUEUED = "drain-queued"  # a Lease set while a drain task waits in the worker queue
DRAIN_BUDGET = 20.0  # seconds a queued or scheduled drain sends and waits for work due soon
INLINE_BUDGET = 2.0  # seconds a low-stock task of InvenTree's may spend sending after it


def task_budget(wanted: float) -> float:
    """Seconds a task may spend draining: well inside InvenTree's task timeout.

    A task that outlives INVENTREE_BACKGROUND_TIMEOUT is killed mid-send, which leaves rows
    'unknown'; so a drain stops starting messages at half of it and leaves the rest to the next.
    """
    timeout = float((getattr(settings, "Q_CLUSTER", None) or {}).get("timeout") or 90)
    return max(1.0, min(wanted, timeout / 2))


def run_drain(budget_seconds: float, wait: bool, queued: bool) -> Any:
    """One drain now, and the next one arranged for when the rest is due.

    ``wait``: wait for work due soon, while no other task waits for the worker (InvenTree may
    run a single worker; a waiting drain must not hold up its other tasks). ``queued``: this
    is the queued drain task, which has now started. Returns the drain's report, or None when
    the plugin is not active here or its outbox is not ready.
    """
    plugin = active_plugin()
    if plugin is None or not plugin.outbox_ready():
        return None
    if queued:
        from ..models import Lease

        Lease.objects.filter(name=QUEUED).update(until=None)  # the queued drain has started
    report = build_dispatcher(plugin, on_claim=schedule_wake).drain(
        budget_seconds=task_budget(budget_seconds), wait=wait, should_yield=_others_waiting
    )
    if report.messages or report.failed or report.skipped:
        logger.info(
            "Notify Plus: %s message(s), %s sent, %s retrying, %s failed, %s skipped",
            report.messages,
            report.sent,
            report.retried,
            report.failed,
            report.skipped,
        )
    wake_at(report.next_due)
    return report


def _others_waiting() -> bool:
    """Whether other tasks wait in the worker queue (then a drain stops waiting and yields)."""
    try:
        from django_q.brokers import get_broker

        return bool(get_broker().queue_size())
    except Exception:
        return False


def wake_at(when: datetime | None) -> None:
    """Have a drain run by ``when``: queued now if it is soon, else a one-off schedule.

    Nothing to do while another drain waits for due work (it covers it and calls this when
    it stops). Work due within a scheduler tick gets a queued drain with the budget to wait
    for it; later work a schedule (:func:`schedule_wake`).
    """
    if when is None:
        return
    from ..models import Lease
    from ..outbox.claims import WAITER
    from ..outbox.clock import database_now

    now = database_now()
    if Lease.objects.filter(name=WAITER, until__gt=now).exists():
        return
    seconds = (when - now).total_seconds()
    if seconds <= SCHEDULER_TICK:
        queue_drain(budget_seconds=max(DRAIN_BUDGET, seconds + 1.0))
        return
    schedule_wake(when, now)


def schedule_wake(when: datetime, now: datetime | None = None) -> None:
    """A one-off django-q2 schedule that starts a drain by ``when`` (kept if an earlier one is set).

    It lives in the database, so it also covers a drain's own claims: if the worker is killed
    holding them, the drain it starts finds them when their lease runs out. A one-off schedule
    fires at the scheduler's next tick after its time, so it is set one tick early; the drain
    it starts waits the rest in short steps. ``when`` is on the database's clock (``now`` is
    the database's time, if known); the schedule is set on this server's, which the scheduler
    reads.
    """
    from django.utils import timezone
    from django_q.models import Schedule

    from ..outbox.clock import database_now

    here = timezone.now()
    at = when + (here - (now or database_now())) - timedelta(seconds=SCHEDULER_TICK)
    current = Schedule.objects.filter(name=WAKE_SCHEDULE).order_by("next_run").first()
    if current is not None and current.next_run <= at and current.repeats != 0:
        return
    updated = Schedule.objects.filter(name=WAKE_SCHEDULE).update(
        next_run=at, repeats=-1, schedule_type=Schedule.ONCE, func=DRAIN_TASK
    )
    if not updated:
        Schedule.objects.create(
            name=WAKE_SCHEDULE,
            func=DRAIN_TASK,
            schedule_type=Schedule.ONCE,
            repeats=-1,
            next_run=at,
        )


def queue_drain(budget_seconds: float = DRAIN_BUDGET) -> None:
    """Queue one drain task; a burst of requests while one is queued adds no more."""
    from ..models import Lease
    from ..outbox.clock import database_now

    now = database_now()
    Lease.objects.get_or_create(name=QUEUED)
    # Expires on its own, in case the queued task is lost (worker restarted).
    free = Lease.objects.filter(name=QUEUED).exclude(until__gt=now)
    if free.update(until=now + timedelta(seconds=120)):
        offload(DRAIN_TASK, budget_seconds)


def request_drain() -> None:
    """Send what was just queued: at once when already in a background worker, else queue it.

    Never in a web request. InvenTree runs its low-stock check in the worker, so the drain
    usually runs right there after the commit (sending what is due, without waiting) instead
    of waiting for another worker poll. It sends for at most ``INLINE_BUDGET`` seconds: in a
    stocktake each of InvenTree's low-stock tasks would otherwise spend its time on the
    backlog; what is left goes to the queued drain.
    """
    if _in_worker():
        try:
            run_drain(budget_seconds=INLINE_BUDGET, wait=False, queued=False)
        except Exception:
            logger.exception("Notify Plus: drain after commit failed; queued for the worker")
        else:
            return
    queue_drain()


def _in_worker() -> bool:
    try:
        from InvenTree.ready import isInWorkerThread
    except ImportError:
        return False
    return bool(isInWorkerThread())


def offload(task: str, *args: Any) -> None:
    """Queue ``task`` (a dotted path) for InvenTree's background worker."""
    from InvenTree.tasks import offload_task

    # force_async: InvenTree would otherwise run the task inline when it sees no worker,
    # which would put sending into the web request.
    offload_task(task, *args, group="notify_plus", force_async=True)


def schedule_flush(when: datetime) -> None:
    """A one-off django-q2 schedule that runs ``tasks.flush_email`` by ``when`` (earliest kept)."""
    from django_q.models import Schedule

    current = Schedule.objects.filter(name=FLUSH_SCHEDULE).first()
    if current is not None and current.repeats != 0 and current.next_run <= when:
        return
    Schedule.objects.update_or_create(
        name=FLUSH_SCHEDULE,
        defaults={
            "func": FLUSH_TASK,
            "schedule_type": Schedule.ONCE,
            "repeats": -1,
            "next_run": when,
        },
    )
