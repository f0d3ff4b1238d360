"""The worker's task entry points (InvenTree edge): drain, flush_email, send_best_effort.

InvenTree's worker runs them by dotted path (``inventree_notify_plus.tasks.drain`` and so on),
which django-q2 stores in its queue and schedules: they stay here, whatever moves around them.
When drains run is ``inventree.wakeup``'s business; the dispatcher they run is configured in
``inventree.worker_dispatcher``. The outbox (and its models) is imported only inside the tasks:
only where app integration is on.
"""

from __future__ import annotations

import logging
from typing import Any

from .channels.base import Skip
from .inventree import wakeup
from .inventree.worker_dispatcher import active_plugin, channels, email_dispatcher
from .notice import Notice

logger = logging.getLogger("inventree")


def drain(budget_seconds: float = wakeup.DRAIN_BUDGET) -> Any:
    """The drain task: send everything due, then make sure a drain runs when the rest is due.

    Waits for work due soon only while no other task waits for the worker (InvenTree may run
    a single worker; a waiting drain must not hold up its other tasks).
    """
    return wakeup.run_drain(budget_seconds, wait=True, queued=True)


def send_best_effort(notice_data: dict, planned: list[dict]) -> None:
    """Without the outbox (app integration off): send once, log the outcome, no retries."""
    from InvenTree.helpers_email import get_email_for_user

    from .outbox.destinations import SettingsDirectory

    plugin = active_plugin()
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


def flush_email(budget_seconds: float = wakeup.DRAIN_BUDGET) -> int:
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

    from .models import Delivery
    from .outbox.clock import database_now
    from .outbox.report import DispatchReport

    if not _outbox_tables():
        return 0
    now = database_now()  # the outbox's clock: stale claims are judged on it, as by every drain
    pending = Delivery.objects.filter(channel="email", status=Delivery.Status.PENDING)
    pending.filter(due_at__gt=now).update(due_at=now)
    dispatcher = email_dispatcher()
    dispatcher.recover_stale(now)
    report = DispatchReport()
    deadline = dispatcher.timer() + wakeup.task_budget(budget_seconds)
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
            wakeup.wake_at(left)  # the plugin's own drain sends email whatever the switches say
        else:
            wakeup.schedule_flush(left)
    return report.sent


def _outbox_tables() -> bool:
    """Whether the outbox exists (its app may be unregistered: the plugin is inactive)."""
    from django.db import connection

    from .models import Delivery

    return Delivery._meta.db_table in connection.introspection.table_names()


def _active_in_database() -> bool:
    from plugin.models import PluginConfig

    return PluginConfig.objects.filter(key="notify-plus", active=True).exists()
