"""The plugin's scheduled tasks (InvenTree's schedule integration): the sweep and the prune.

InvenTree stores them as calls of the plugin's methods by name (``sweep``, ``prune``), not by
this module's path; the plugin class delegates here.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.utils import timezone

logger = logging.getLogger("inventree")


def sweep(plugin: Any) -> None:
    """Every minute: the recovery fallback, reminders (``REMIND_AFTER``), then send whatever is due (bounded, like every drain).

    Nothing is stranded if a worker died: the drain finds what is due, and what a dead
    worker's lease held once the lease runs out. ``plugin`` is the active plugin (InvenTree's
    registry calls the task only on it).
    """
    # Inside the function: the outbox and its models load only when the plugin works (the
    # plugin module imports this one whether or not app integration is on).
    from .. import tasks
    from .build_shortfall import check as check_builds
    from .recovery import check_recovery
    from .reminders import send_reminders

    if plugin.outbox_ready():
        check_recovery(plugin)
        check_builds(plugin)
        send_reminders(plugin)  # after recovery: a part back in stock is not reminded
    tasks.drain()


def prune(plugin: Any) -> None:
    """Daily: delete notifications and deliveries older than NOTIFICATIONS_DELETE_DAYS."""
    from common.models import NotificationMessage

    days = int(plugin.current_settings()["NOTIFICATIONS_DELETE_DAYS"] or 0)
    if days <= 0:
        return
    cutoff = timezone.now() - timedelta(days=days)
    messages, _ = NotificationMessage.objects.filter(creation__lt=cutoff).delete()
    deleted = 0
    if plugin.outbox_ready():
        from ..outbox.report import prune as prune_outbox

        deleted = prune_outbox(days)
    logger.info("Notify Plus: pruned %s notifications and %s deliveries", messages, deleted)
