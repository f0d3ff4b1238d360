"""Background-worker entry points (InvenTree edge): drain the outbox, best-effort sending.

The outbox (and its models) is imported only where app integration is on.

Called by InvenTree's worker via ``offload_task`` and by the plugin's scheduled sweep. Times
the outbox reports (when work is next due) and the drain leases are on the database's clock,
like the outbox's claims, so that app servers whose clocks disagree agree on them; only the
one-off wake-up schedule is on this server's clock, as django-q2's scheduler reads it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from .channels import CHANNELS, Channel, RenderContext
from .channels.base import Skip
from .notice import Notice

logger = logging.getLogger("inventree")


def _plugin() -> Any:
    from plugin import registry

    return registry.get_plugin("notify-plus")


def render_context() -> RenderContext:
    """Instance name and site URL from InvenTree's settings."""
    from common.settings import get_global_setting

    return RenderContext(
        instance_name=str(get_global_setting("INVENTREE_INSTANCE", "InvenTree") or "InvenTree"),
        site_url=str(getattr(settings, "SITE_URL", "") or ""),
    )


def channels() -> dict[str, Channel]:
    """One instance of each channel, rendering with this instance's name."""
    context = render_context()
    return {kind: cls(context) for kind, cls in CHANNELS.items()}


def setting_int(plugin: Any, key: str, least: int) -> int:
    """An integer setting as stored, at least ``least``.

    0 stays 0 (then ``least`` applies), it never turns into the default: a stored value the
    admin cannot see replaced. Only a value that is not a number at all falls back to the
    declared default.
    """
    value = plugin.get_setting(key, cache=False)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = int(plugin.SETTINGS[key]["default"])
        logger.warning("Notify Plus: setting %s is not a number; using %s", key, number)
    return max(least, number)


def build_dispatcher(plugin: Any) -> Any:
    """A dispatcher configured from the plugin settings, on the database's clock."""
    from InvenTree.helpers_email import get_email_for_user

    from .outbox.destinations import SettingsDirectory
    from .outbox.dispatcher import Dispatcher
    from .outbox.retry import RetryPolicy

    policy = RetryPolicy(
        max_attempts=setting_int(plugin, "RETRY_MAX_ATTEMPTS", least=1),
        max_age=timedelta(hours=setting_int(plugin, "RETRY_MAX_HOURS", least=1)),
    )
    return Dispatcher(
        directory=SettingsDirectory(plugin.routing_config(), get_email_for_user),
        channels=channels(),
        policy=policy,
        group_interval=timedelta(seconds=setting_int(plugin, "GROUP_INTERVAL", least=0)),
        on_claim=schedule_wake,
    )


# django-q2's cluster runs its scheduler about every 30 s (its guard loop counts to 30).
SCHEDULER_TICK = 30.0
WAKE_SCHEDULE = "notify-plus.wake"
DRAIN_TASK = "inventree_notify_plus.tasks.drain"
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


def drain(budget_seconds: float = DRAIN_BUDGET) -> Any:
    """The drain task: send everything due, then make sure a drain runs when the rest is due.

    Waits for work due soon only while no other task waits for the worker (InvenTree may run
    a single worker; a waiting drain must not hold up its other tasks).
    """
    return _drain(budget_seconds, wait=True, queued=True)


def _drain(budget_seconds: float, wait: bool, queued: bool) -> Any:
    plugin = _plugin()
    if plugin is None or not plugin.outbox_ready():
        return None
    if queued:
        from .models import Lease

        Lease.objects.filter(name=QUEUED).update(until=None)  # the queued drain has started
    report = build_dispatcher(plugin).drain(
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
    from .models import Lease
    from .outbox.claims import WAITER
    from .outbox.clock import database_now

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

    from .outbox.clock import database_now

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
    from .models import Lease
    from .outbox.clock import database_now

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
            _drain(budget_seconds=INLINE_BUDGET, wait=False, queued=False)
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
    """Queue ``task`` for InvenTree's background worker."""
    from InvenTree.tasks import offload_task

    # force_async: InvenTree would otherwise run the task inline when it sees no worker,
    # which would put sending into the web request.
    offload_task(task, *args, group="notify_plus", force_async=True)


def send_best_effort(notice_data: dict, planned: list[dict]) -> None:
    """Without the outbox (app integration off): send once, log the outcome, no retries."""
    from InvenTree.helpers_email import get_email_for_user

    from .outbox.destinations import SettingsDirectory

    plugin = _plugin()
    if plugin is None:
        return
    directory = SettingsDirectory(plugin.routing_config(), get_email_for_user)
    available = channels()
    notice = Notice.from_dict(notice_data)
    for plan in planned:
        destination = directory.resolve(plan["destination"])
        if isinstance(destination, Skip):
            logger.info("Notify Plus: skipped %s: %s", plan["label"], destination.reason)
            continue
        result = available[plan["channel"]].send(destination, [notice], plan.get("mentions") or ())
        logger.info(
            "Notify Plus (best effort): %s -> %s: %s", plan["label"], result.outcome, result.detail
        )


# -- the final email: Notify Plus stopped emailing ---------------------------------------------

FLUSH_TASK = "inventree_notify_plus.tasks.flush_email"
FLUSH_SCHEDULE = "notify-plus.flush"


def flush_email(budget_seconds: float = DRAIN_BUDGET) -> int:
    """Send every email Notify Plus holds now: one final digest per recipient.

    Queued when Notify Plus stops emailing (deactivated, *Email* or *Send notifications*
    switched off; the rule is in ``inventree.plugin_state``). Email rows only, all made due now
    (digests, quiet hours); Slack and Discord keep their schedule. Needs no plugin instance and
    no app registration, so a worker whose registry no longer has the plugin active runs it
    too. Rows are claimed like any drain's, so a drain running beside it never sends one twice.
    What fails is retried by the retry policy: while the plugin is inactive (no drain runs) a
    one-off schedule brings this task back when the retry is due. Returns how many were sent.
    """
    from django.db.models import Min
    from django.utils import timezone

    from .models import Delivery
    from .outbox.report import DispatchReport

    if not _outbox_tables():
        return 0
    now = timezone.now()
    pending = Delivery.objects.filter(channel="email", status=Delivery.Status.PENDING)
    pending.filter(due_at__gt=now).update(due_at=now)
    dispatcher = _email_dispatcher()
    dispatcher.recover_stale(now)
    report = DispatchReport()
    deadline = dispatcher.timer() + task_budget(budget_seconds)
    while dispatcher.dispatch_batch("email", report, deadline):
        pass
    if report.messages or report.failed or report.skipped:
        logger.info(
            "Notify Plus: final email: %s message(s), %s sent, %s retrying, %s failed, %s skipped",
            report.messages,
            report.sent,
            report.retried,
            report.failed,
            report.skipped,
        )
    left = pending.aggregate(m=Min("due_at"))["m"]
    if left is not None:
        if _active_in_database():
            wake_at(left)  # the plugin's own drain sends email whatever the switches say
        else:
            schedule_flush(left)
    return report.sent


def _outbox_tables() -> bool:
    """Whether the outbox exists (its app may be unregistered: the plugin is inactive)."""
    from django.db import connection

    from .models import Delivery

    return Delivery._meta.db_table in connection.introspection.table_names()


def _active_in_database() -> bool:
    from plugin.models import PluginConfig

    return PluginConfig.objects.filter(key="notify-plus", active=True).exists()


def _stored_int(key: str, default: int) -> int:
    """A plugin setting read without the plugin instance (the registry may not have it)."""
    from plugin.models import PluginSetting

    raw = PluginSetting.objects.filter(plugin__key="notify-plus", key=key).values_list(
        "value", flat=True
    )
    try:
        return int(raw[0]) if raw else default
    except (TypeError, ValueError):
        return default


def _email_dispatcher() -> Any:
    """A dispatcher for email only: every user resolved, no grouping wait."""
    from InvenTree.helpers_email import get_email_for_user

    from .outbox.destinations import SettingsDirectory
    from .outbox.dispatcher import Dispatcher
    from .outbox.retry import RetryPolicy
    from .routing.config import RoutingConfig

    policy = RetryPolicy(
        max_attempts=max(1, _stored_int("RETRY_MAX_ATTEMPTS", 10)),
        max_age=timedelta(hours=max(1, _stored_int("RETRY_MAX_HOURS", 24))),
    )
    return Dispatcher(
        directory=SettingsDirectory(RoutingConfig(), get_email_for_user),
        channels={"email": channels()["email"]},
        policy=policy,
        group_interval=timedelta(0),
    )


def schedule_flush(when: datetime) -> None:
    """A one-off django-q2 schedule that runs :func:`flush_email` by ``when`` (earliest kept)."""
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
