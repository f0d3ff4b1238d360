"""The InvenTree plugin: declarations and thin glue (InvenTree edge).

InvenTree calls :meth:`NotifyPlusPlugin.send_notification` for every notification it
triggers; the plugin turns it into a Notice, routes it, writes the outbox rows and asks the
background worker to drain them. Logic lives in the modules named in ``__init__``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from plugin import InvenTreePlugin, PluginMixinEnum, registry
from plugin.mixins import (
    AppMixin,
    EventMixin,
    NotificationMixin,
    ScheduleMixin,
    SettingsMixin,
    UrlsMixin,
    UserInterfaceMixin,
)

from . import __version__, inventree_notices, routing, ui, validation
from .redaction import mask_url

logger = logging.getLogger("inventree")

CORE_EMAIL_SLUG = "inventree-email-notification"
NEEDS = _(
    "Needs InvenTree's global settings (Settings > Plugins): 'Enable app integration' for the "
    "outbox and delivery log (without it: best effort, no retries), 'Enable schedule "
    "integration' for retries, digests and cleanup, 'Enable event integration' for stock "
    "recovery notices."
)


def _default_delete_days() -> int:
    """Follow InvenTree's own retention for notifications."""
    from common.settings import get_global_setting

    try:
        return int(get_global_setting("INVENTREE_DELETE_NOTIFICATIONS_DAYS", 30))
    except (TypeError, ValueError):
        return 30


def _validate_extra_slack(value: str) -> None:
    for dest in routing.parse_destinations("slack", value):
        validation.validate_slack_webhook_url(dest.url)


def _validate_extra_discord(value: str) -> None:
    for dest in routing.parse_destinations("discord", value):
        validation.validate_discord_webhook_url(dest.url)


def _validate_routes(value: str) -> None:
    routing.parse_routes(value)


def _validate_quiet_hours(value: str) -> None:
    routing.parse_quiet_hours(value)


def _validate_timezone(value: str) -> None:
    routing.validate_timezone(value)


class NotifyPlusPlugin(
    AppMixin,
    NotificationMixin,
    SettingsMixin,
    EventMixin,
    ScheduleMixin,
    UrlsMixin,
    UserInterfaceMixin,
    InvenTreePlugin,
):
    """Deliver InvenTree notifications by email, Slack and Discord."""

    NAME = "NotifyPlus"
    SLUG = "notify-plus"
    TITLE = _("Notify Plus")
    DESCRIPTION = _(
        "Notifications by email (one per person), Slack and Discord, with retries, digests and "
        "a delivery log."
    )
    AUTHOR = "Notify Plus contributors"
    VERSION = __version__
    MIN_VERSION = "1.5.0"
    WEBSITE = "https://github.com/notify-plus/inventree-notify-plus"
    LICENSE = "MIT"
    ADMIN_SOURCE = ui.ADMIN_SOURCE  # the admin console (frontend/src/Admin.tsx)

    SETTINGS = {
        "NOTIFICATIONS_ENABLE": {
            "name": _("Send notifications"),
            "description": _("Master switch: off means Notify Plus sends nothing. ") + NEEDS,
            "default": True,
            "validator": bool,
        },
        "NOTIFICATIONS_LOW_STOCK": {
            "name": _("Low stock notices"),
            "description": _(
                "Announce parts whose stock falls below their minimum (once while it stays low)."
            ),
            "default": True,
            "validator": bool,
        },
        "NOTIFICATIONS_RECOVERY": {
            "name": _("Stock recovery notices"),
            "description": _(
                "Also announce when a low part is back at or above its minimum (needs event integration)."
            ),
            "default": False,
            "validator": bool,
        },
        "NOTIFICATIONS_OTHER": {
            "name": _("Other InvenTree notices"),
            "description": _(
                "Deliver every other notification InvenTree sends (build shortfalls, orders, ...)."
            ),
            "default": True,
            "validator": bool,
        },
        "NOTIFICATIONS_DELETE_DAYS": {
            "name": _("Keep delivery log (days)"),
            "description": _(
                "Delete finished deliveries older than this, daily (0 keeps everything). Defaults "
                "to InvenTree's 'Delete notifications' setting."
            ),
            "default": _default_delete_days,
            "validator": [int, validation.validate_non_negative],
        },
        "EMAIL_ENABLE": {
            "name": _("Email"),
            "description": _(
                "Send each subscriber their own email (nobody sees other recipients). While on, "
                "Notify Plus turns InvenTree's built-in 'Allow email notifications' off for each "
                "user it emails, so every notice arrives by email exactly once; turning this (or "
                "the plugin) off gives it back."
            ),
            "default": True,
            "validator": bool,
        },
        "SLACK_WEBHOOK_URL": {
            "name": _("Slack webhook URL"),
            "description": _(
                "Incoming webhook of the default Slack channel: https://hooks.slack.com/services/..."
            ),
            "default": "",
            "protected": True,
            "validator": validation.validate_slack_webhook_url,
        },
        "SLACK_EXTRA_WEBHOOKS": {
            "name": _("More Slack channels"),
            "description": _("Named Slack destinations for routes: name=URL, separated by spaces."),
            "default": "",
            "protected": True,
            "validator": _validate_extra_slack,
        },
        "DISCORD_WEBHOOK_URL": {
            "name": _("Discord webhook URL"),
            "description": _(
                "Webhook of the default Discord channel: https://discord.com/api/webhooks/<id>/<token>"
            ),
            "default": "",
            "protected": True,
            "validator": validation.validate_discord_webhook_url,
        },
        "DISCORD_EXTRA_WEBHOOKS": {
            "name": _("More Discord channels"),
            "description": _(
                "Named Discord destinations for routes: name=URL, separated by spaces."
            ),
            "default": "",
            "protected": True,
            "validator": _validate_extra_discord,
        },
        "ROUTES": {
            "name": _("Routes"),
            "description": _(
                'JSON list; first match wins unless "continue": true; unmatched notices go to the '
                'default channels. Example: [{"category": ["part.notify_low_stock"], '
                '"part_category": [3], "to": ["slack:purchasing"]}]'
            ),
            "default": "",
            "validator": _validate_routes,
        },
        "GROUP_INTERVAL": {
            "name": _("Grouping interval (seconds)"),
            "description": _(
                "The first notice to a Slack/Discord channel goes out at once; notices arriving "
                "within this interval after a message are sent together as one digest."
            ),
            "default": 60,
            "validator": [int, validation.validate_non_negative],
        },
        "RETRY_MAX_ATTEMPTS": {
            "name": _("Retry attempts"),
            "description": _(
                "Give up on a delivery after this many failed attempts (backoff 15 s doubling to 15 min)."
            ),
            "default": 10,
            "validator": [int, validation.validate_non_negative],
        },
        "RETRY_MAX_HOURS": {
            "name": _("Retry for (hours)"),
            "description": _(
                "Give up on a delivery that could not be sent within this many hours."
            ),
            "default": 24,
            "validator": [int, validation.validate_non_negative],
        },
    }

    USER_SETTINGS = {
        "NOTIFY_PLUS_EMAIL": {
            "name": _("Notify Plus: email me"),
            "description": _(
                "Receive notifications of parts and categories you subscribe to by email."
            ),
            "default": True,
            "validator": bool,
        },
        "NOTIFY_PLUS_EMAIL_MODE": {
            "name": _("Notify Plus: email frequency"),
            "description": _(
                "Each notice at once, or one digest email per hour or per day (07:00)."
            ),
            "default": "immediate",
            "choices": [
                ("immediate", _("Immediately")),
                ("hourly", _("Hourly digest")),
                ("daily", _("Daily digest")),
            ],
        },
        "NOTIFY_PLUS_QUIET_HOURS": {
            "name": _("Notify Plus: quiet hours"),
            "description": _(
                "Hold email during these hours, e.g. 22-07 (empty: none). Slack/Discord posts are not held."
            ),
            "default": "",
            "validator": _validate_quiet_hours,
        },
        "NOTIFY_PLUS_TIMEZONE": {
            "name": _("Notify Plus: time zone"),
            "description": _("Your time zone for quiet hours and digests, e.g. Europe/Berlin."),
            "default": "UTC",
            "validator": _validate_timezone,
        },
        "NOTIFY_PLUS_SLACK_MEMBER_ID": {
            "name": _("Notify Plus: Slack member ID"),
            "description": _(
                "Set it to be @-mentioned in Slack posts about your subscriptions (off when empty)."
            ),
            "default": "",
            "validator": validation.validate_slack_member_id,
        },
        "NOTIFY_PLUS_DISCORD_USER_ID": {
            "name": _("Notify Plus: Discord user ID"),
            "description": _(
                "Set it to be @-mentioned in Discord posts about your subscriptions (off when empty)."
            ),
            "default": "",
            "validator": validation.validate_discord_user_id,
        },
    }

    SCHEDULED_TASKS = {
        "sweep": {"func": "sweep", "schedule": "I", "minutes": 1},
        "prune": {"func": "prune", "schedule": "D"},
    }

    # -- InvenTree hooks ----------------------------------------------------------------------

    def send_notification(self, target: Any, category: Any, users: list, context: dict) -> bool:
        """Route a notification InvenTree triggered and queue its deliveries."""
        from .intake import accept

        enabled = bool(self.get_setting("NOTIFICATIONS_ENABLE", cache=False))
        if not enabled or not self.get_setting("EMAIL_ENABLE", cache=False):
            from .intake import hand_back_email

            hand_back_email()  # nobody is left without email while Notify Plus does not send it
        if not enabled:
            return False
        return accept(self, target, category, users, context or {})

    def wants_process_event(self, event: str) -> bool:
        """Stock and part changes may end a low-stock condition."""
        return event.startswith(("stock_stockitem.", "part_part.saved"))

    def process_event(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Check for recovery of the part(s) the event touched."""
        from .intake import check_recovery

        if self.outbox_ready():
            check_recovery(self, event, kwargs)

    def setup_urls(self) -> list:
        """The delivery log, counts, test sends and routing preview, for admins."""
        from .api import urlpatterns

        return urlpatterns

    # -- web UI (frontend/ built into static/; logic in ui.py) ---------------------------------

    def get_ui_panels(self, request: Any, context: dict, **kwargs: Any) -> list:
        """A 'Notifications' panel on Part, Part category and Stock location pages."""
        return ui.panels(self, request, context)

    def get_ui_dashboard_items(self, request: Any, context: dict, **kwargs: Any) -> list:
        """'My notifications' on the dashboard."""
        return ui.dashboard_items(self, request, context)

    def get_admin_context(self) -> dict:
        """Start-up data for the admin console."""
        return ui.admin_context(self)

    # -- scheduled tasks -----------------------------------------------------------------------

    def sweep(self) -> None:
        """Every minute: send whatever is due (nothing stranded if a worker died)."""
        from .tasks import sweep

        sweep()

    def prune(self) -> None:
        """Daily: delete notifications and deliveries older than NOTIFICATIONS_DELETE_DAYS."""
        from datetime import timedelta

        from common.models import NotificationMessage

        days = int(self.get_setting("NOTIFICATIONS_DELETE_DAYS") or 0)
        if days <= 0:
            return
        cutoff = timezone.now() - timedelta(days=days)
        messages, _ = NotificationMessage.objects.filter(creation__lt=cutoff).delete()
        deleted = 0
        if self.outbox_ready():
            from .outbox import prune

            deleted = prune(days)
        logger.info("Notify Plus: pruned %s notifications and %s deliveries", messages, deleted)

    def integration_warnings(self) -> list[str]:
        """Which InvenTree integrations the plugin needs are off, and what that costs."""
        from common.settings import get_global_setting

        needs = {
            "ENABLE_PLUGINS_APP": "app integration is off: no outbox, no retries, no delivery log",
            "ENABLE_PLUGINS_SCHEDULE": "schedule integration is off: no retries, digests or cleanup",
            "ENABLE_PLUGINS_EVENTS": "event integration is off: stock recovery is noticed only by the sweep",
            "ENABLE_PLUGINS_URL": "URL integration is off: no delivery log or test endpoints",
        }
        return [text for key, text in needs.items() if not get_global_setting(key, False)]

    # -- configuration -------------------------------------------------------------------------

    def outbox_ready(self) -> bool:
        """The outbox tables exist only when InvenTree's app integration is on."""
        return apps.is_installed("inventree_notify_plus")

    def routing_config(self) -> routing.RoutingConfig:
        """Destinations and routes from the settings (the single webhooks are 'default')."""
        destinations: list[routing.WebhookDestination] = []
        for kind in routing.WEBHOOK_KINDS:
            url = (self.get_setting(f"{kind.upper()}_WEBHOOK_URL", cache=False) or "").strip()
            if url:
                destinations.append(routing.WebhookDestination(kind, "default", url))
            extra = self.get_setting(f"{kind.upper()}_EXTRA_WEBHOOKS", cache=False) or ""
            try:
                destinations += routing.parse_destinations(kind, extra)
            except Exception as exc:
                logger.error("Notify Plus: ignoring %s destinations: %s", kind, exc)
        known = {d.key for d in destinations}
        try:
            routes = routing.parse_routes(self.get_setting("ROUTES", cache=False) or "", known)
        except Exception as exc:
            logger.error("Notify Plus: routes ignored until fixed: %s", exc)
            routes = []
        return routing.RoutingConfig(
            email_enabled=bool(self.get_setting("EMAIL_ENABLE", cache=False)),
            destinations=destinations,
            routes=routes,
            categories_enabled={
                inventree_notices.LOW_STOCK: bool(
                    self.get_setting("NOTIFICATIONS_LOW_STOCK", cache=False)
                ),
                inventree_notices.RECOVERED: bool(
                    self.get_setting("NOTIFICATIONS_RECOVERY", cache=False)
                ),
            },
        )

    def core_email_runs_first(self) -> bool:
        """Whether InvenTree's email method is called before this plugin for a notification."""
        slugs = [p.slug for p in registry.with_mixin(PluginMixinEnum.NOTIFICATION)]
        if CORE_EMAIL_SLUG not in slugs or self.slug not in slugs:
            return False
        return slugs.index(CORE_EMAIL_SLUG) < slugs.index(self.slug)

    def configured_destinations(self) -> list[dict[str, str]]:
        """The Slack/Discord destinations, masked: what an admin may see of the secrets."""
        return [{"key": d.key, "url": mask_url(d.url)} for d in self.routing_config().destinations]
