"""Background-worker entry points (InvenTree edge): drain the outbox, best-effort sending.

The outbox (and its models) is imported only where app integration is on.

Called by InvenTree's worker via ``offload_task`` and by the plugin's scheduled sweep.
"""

from __future__ import annotations

import logging
from datetime import timedelta
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


def build_dispatcher(plugin: Any) -> Any:
    """A dispatcher configured from the plugin settings."""
    from InvenTree.helpers_email import get_email_for_user

    from .directory import SettingsDirectory
    from .outbox import Dispatcher, RetryPolicy

    policy = RetryPolicy(
        max_attempts=max(1, int(plugin.get_setting("RETRY_MAX_ATTEMPTS", cache=False) or 10)),
        max_age=timedelta(
            hours=max(1, int(plugin.get_setting("RETRY_MAX_HOURS", cache=False) or 24))
        ),
    )
    return Dispatcher(
        directory=SettingsDirectory(plugin.routing_config(), get_email_for_user),
        channels=channels(),
        policy=policy,
        group_interval=timedelta(
            seconds=int(plugin.get_setting("GROUP_INTERVAL", cache=False) or 0)
        ),
    )


def drain(budget_seconds: float = 20.0) -> Any:
    """Send everything due; also end low-stock conditions that recovered unnoticed."""
    plugin = _plugin()
    if plugin is None or not plugin.outbox_ready():
        return None
    report = build_dispatcher(plugin).drain(budget_seconds=budget_seconds)
    if report.messages or report.failed or report.skipped:
        logger.info(
            "Notify Plus: %s message(s), %s sent, %s retrying, %s failed, %s skipped",
            report.messages,
            report.sent,
            report.retried,
            report.failed,
            report.skipped,
        )
    return report


def request_drain() -> None:
    """Ask InvenTree's background worker to send what is due (never in the web request)."""
    offload("inventree_notify_plus.tasks.drain")


def offload(task: str, *args: Any) -> None:
    """Queue ``task`` for InvenTree's background worker."""
    from InvenTree.tasks import offload_task

    # force_async: InvenTree would otherwise run the task inline when it sees no worker,
    # which would put sending into the web request.
    offload_task(task, *args, group="notify_plus", force_async=True)


def sweep() -> None:
    """The scheduled sweep: recovery fallback, then drain."""
    from .recovery import check_recovery

    plugin = _plugin()
    if plugin is not None and plugin.outbox_ready():
        check_recovery(plugin)
    drain(budget_seconds=50.0)


def send_best_effort(notice_data: dict, planned: list[dict]) -> None:
    """Without the outbox (app integration off): send once, log the outcome, no retries."""
    from InvenTree.helpers_email import get_email_for_user

    from .directory import SettingsDirectory

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
