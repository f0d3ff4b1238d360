"""The InvenTree plugin: declarations and thin glue (InvenTree edge).

InvenTree calls :meth:`NotifyPlusPlugin.send_notification` for every notification it
triggers; the plugin turns it into a Notice, routes it, writes the outbox rows and asks the
background worker to drain them. Logic lives in the modules named in ``__init__``; who emails
whom is ``email_consent``'s.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from plugin import InvenTreePlugin, registry
from plugin.mixins import (
    AppMixin,
    EventMixin,
    NotificationMixin,
    ScheduleMixin,
    SettingsMixin,
    UrlsMixin,
    UserInterfaceMixin,
)

from . import (
    __version__,
    email_consent,
    events,
    inventree_notices,
    plugin_settings,
    readiness,
    routing,
    ui,
    validation,
)
from .inventree_notices import BUILD_SHORTFALL, LOW_STOCK
from .redaction import mask_url

logger = logging.getLogger("inventree")

# InvenTree's email method skips the recipients Notify Plus answers for, decided per
# notification while this code is loaded (see email_consent: nothing is written to InvenTree).
email_consent.guard_core_email()
# Activation (the 1.0 hand-back) and whatever stops Notify Plus emailing (the email it holds
# goes out at once): seen in every process that loads the package, active or not.
email_consent.watch_plugin_state()

BACK_TO_INVENTREE = _(
    "To go back to InvenTree's own email, deactivate the plugin (Settings > Plugins)."
)

NEEDS = _(
    "Needs InvenTree's global settings (Settings > Plugins): 'Enable app integration' and its "
    "migrations for the outbox and delivery log (until then InvenTree's own email is used and "
    "Slack/Discord are sent best effort), 'Enable schedule integration' for retries, digests "
    "and cleanup, 'Enable event integration' for stock recovery notices and for checking new "
    "build orders when they are created."
)


def _default_delete_days() -> int:
    """Follow InvenTree's own retention for notifications (within this setting's range)."""
    from common.settings import get_global_setting

    try:
        days = int(get_global_setting("INVENTREE_DELETE_NOTIFICATIONS_DAYS", 30))
    except (TypeError, ValueError):
        return 30
    limits = validation.DELETE_DAYS_RANGE
    return min(limits.high, max(limits.low, days))


def _validate_extra_slack(value: str) -> None:
    for dest in routing.parse_destinations("slack", value):
        validation.validate_slack_webhook_url(dest.url)


def _validate_extra_discord(value: str) -> None:
    for dest in routing.parse_destinations("discord", value):
        validation.validate_discord_webhook_url(dest.url)


def _validate_routes(value: str) -> None:
    """Refuse routes naming an unknown destination or notification category.

    A destination typo would reroute notices; a category typo would make a dead route.
    """
    plugin = registry.get_plugin(NotifyPlusPlugin.SLUG, active=None)
    known = [d.key for d in plugin.routing_config().destinations] if plugin else None
    routing.parse_routes(value, known, ui.route_categories())


def _validate_quiet_hours(value: str) -> None:
    routing.parse_quiet_hours(value)


def _validate_timezone(value: str) -> None:
    routing.validate_timezone(value)


INVENTREE_SLACK = "inventree-slack-notification"


class InvenTreeSlack:
    """InvenTree's own Slack method (``InvenTreeSlackNotifications``), seen from Notify Plus.

    Left active beside Notify Plus it posts every notice a second time (one ``requests.post``
    per notification, to its own webhook). Deactivating it is the fix: InvenTree's plugin
    settings, or ``PATCH /api/plugins/inventree-slack-notification/activate/ {"active": false}``
    (superusers), which the Health panel's button calls.
    """

    def __init__(self, active: bool, webhook_set: bool) -> None:
        self.active, self.webhook_set = active, webhook_set

    @property
    def warning(self) -> str:
        """What it costs and how to fix it, for Health and the log."""
        fix = (
            "Deactivate it: Settings > Plugins > 'InvenTree Slack Notifications' "
            f"({INVENTREE_SLACK}) > Deactivate, or 'Deactivate' here in Health (superusers)."
        )
        if self.webhook_set:
            return (
                "InvenTree's own Slack method (InvenTree Slack Notifications) is active beside "
                "Notify Plus: every notice is posted twice, once by each. " + fix
            )
        return (
            "InvenTree's own Slack method (InvenTree Slack Notifications) is active beside "
            "Notify Plus; it posts nothing while its webhook URL is empty, but once one is set "
            "every notice is posted twice. " + fix
        )

    def as_dict(self) -> dict[str, Any]:
        """For the Health answer (no URL, only whether one is set)."""
        return {
            "slug": INVENTREE_SLACK,
            "active": self.active,
            "webhook_set": self.webhook_set,
            "deactivate_url": f"/api/plugins/{INVENTREE_SLACK}/activate/",
        }


def inventree_slack() -> InvenTreeSlack:
    """Whether InvenTree's own Slack method is active, and whether it has a webhook URL."""
    plugin = registry.get_plugin(INVENTREE_SLACK, active=True)
    if plugin is None:
        return InvenTreeSlack(active=False, webhook_set=False)
    try:
        url = plugin.get_setting("NOTIFICATION_SLACK_URL", cache=False)
    except Exception:  # its settings table unreadable: say it is active, not what it holds
        url = ""
    return InvenTreeSlack(active=True, webhook_set=bool((url or "").strip()))


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
            "description": _(
                "Master switch (InvenTree's 'Enable notifications'). Off: nothing is sent by "
                "email (InvenTree's own included), Slack or Discord; the bell still shows "
                "notices, and email already queued goes out at once. "
            )
            + BACK_TO_INVENTREE
            + " "
            + NEEDS,
            "default": True,
            "validator": bool,
        },
        "NOTIFICATIONS_LOW_STOCK": {
            "name": _("Low stock notices"),
            "description": _(
                "Announce parts whose stock falls below their minimum, once while it stays low "
                "(InvenTree's 'Enable low stock notifications'). Off: no low-stock notice by "
                "email (InvenTree's own included), Slack or Discord; the bell still shows them. "
            )
            + BACK_TO_INVENTREE,
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
                "Deliver every other notification InvenTree sends (build shortfalls, orders, "
                "...). Off: those are left to InvenTree's own methods (its email included)."
            ),
            "default": True,
            "validator": bool,
        },
        "NOTIFICATIONS_DELETE_DAYS": {
            "name": _("Delete old notifications (days)"),
            "description": format_lazy(
                "{} {}.",
                _(
                    "Daily, delete Notify Plus's finished deliveries AND InvenTree's own "
                    "notifications (every user's bell and inbox entries) older than this; 0 keeps "
                    "everything. Defaults to InvenTree's 'Delete notifications' setting. Range:"
                ),
                validation.DELETE_DAYS_RANGE.text,
            ),
            "default": _default_delete_days,
            "units": _("days"),
            "validator": [int, validation.DELETE_DAYS_RANGE],
        },
        "EMAIL_ENABLE": {
            "name": _("Email"),
            "description": _(
                "Send each recipient their own email (nobody sees other addresses), as each user "
                "chose ('Notify Plus: email me', which starts from their 'Allow email "
                "notifications'). For each notification Notify Plus has queued, InvenTree's "
                "built-in email skips those recipients, so it arrives once. Nothing in InvenTree's "
                "settings is changed. Off, or the plugin deactivated: InvenTree's email is back "
                "from the next notification, and email Notify Plus still holds (digests) goes out "
                "at once. While Notify Plus's tables are missing, InvenTree's email is used."
            ),
            "default": True,
            "validator": bool,
        },
        "SLACK_WEBHOOK_URL": {
            "name": _("Slack webhook URL"),
            "description": _(
                "Incoming webhook of the default Slack channel: https://hooks.slack.com/services/... "
                "Deactivate InvenTree's own Slack method (plugin 'InvenTree Slack Notifications') "
                "while Notify Plus posts to Slack, or every notice is posted twice."
            ),
            "default": "",
            "protected": True,
            "validator": validation.validate_slack_webhook_url,
        },
        "SLACK_EXTRA_WEBHOOKS": {
            "name": _("More Slack channels"),
            "description": _(
                "Named Slack destinations for routes: name=URL, separated by spaces; each name "
                "once, and not 'default' (that is the 'Slack webhook URL')."
            ),
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
                "Named Discord destinations for routes: name=URL, separated by spaces; each name "
                "once, and not 'default' (that is the 'Discord webhook URL')."
            ),
            "default": "",
            "protected": True,
            "validator": _validate_extra_discord,
        },
        "ROUTES": {
            "name": _("Routes"),
            "description": _(
                'JSON list; first match wins unless "continue": true; unmatched notices go to the '
                "default channels. Destinations must be configured first (slack:default, "
                "discord:default, slack:<name> from 'More Slack channels', ...); categories are "
                "InvenTree's notification categories (the routes editor lists them). Example: "
                '[{"category": ["part.notify_low_stock"], "part_category": [3], '
                '"to": ["slack:purchasing"]}]'
            ),
            "default": "",
            "validator": _validate_routes,
        },
        "GROUP_INTERVAL": {
            "name": _("Grouping interval (seconds)"),
            "description": format_lazy(
                "{} {}.",
                _(
                    "The first notice to a Slack/Discord channel goes out at once; notices arriving "
                    "within this interval after a message are sent together as one digest. Range:"
                ),
                validation.GROUP_INTERVAL_RANGE.text,
            ),
            "default": 60,
            "units": _("seconds"),
            "validator": [int, validation.GROUP_INTERVAL_RANGE],
        },
        "RETRY_MAX_ATTEMPTS": {
            "name": _("Retry attempts"),
            "description": format_lazy(
                "{} {}.",
                _(
                    "Give up on a delivery after this many failed attempts (backoff from a few "
                    "seconds, doubling, at most 15 min between tries). Range:"
                ),
                validation.RETRY_ATTEMPTS_RANGE.text,
            ),
            "default": 10,
            "validator": [int, validation.RETRY_ATTEMPTS_RANGE],
        },
        "RETRY_MAX_HOURS": {
            "name": _("Retry for (hours)"),
            "description": format_lazy(
                "{} {}.",
                _(
                    "Give up on a delivery that could not be sent within this many hours of when it "
                    "was first due. Range:"
                ),
                validation.RETRY_HOURS_RANGE.text,
            ),
            "default": 24,
            "units": _("hours"),
            "validator": [int, validation.RETRY_HOURS_RANGE],
        },
    }

    USER_SETTINGS = {
        "NOTIFY_PLUS_EMAIL": {
            "name": _("Notify Plus: email me"),
            "description": _(
                "Email about the parts, categories and locations you subscribe to, one message "
                "per notice (or digest) to you alone. 'As InvenTree' follows your 'Allow email "
                "notifications' setting."
            ),
            "default": email_consent.INHERIT,
            "choices": [
                (email_consent.INHERIT, _("As InvenTree's 'Allow email notifications'")),
                (email_consent.ON, _("Yes")),
                (email_consent.OFF, _("No")),
            ],
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

    def __init__(self) -> None:
        """Guard InvenTree's email method as the registry (re)creates the plugins."""
        super().__init__()
        email_consent.guard_core_email()

    # -- InvenTree hooks ----------------------------------------------------------------------

    def send_notification(self, target: Any, category: Any, users: list, context: dict) -> bool:
        """Route a notification InvenTree triggered and queue its deliveries (never raises)."""
        from .intake import accept_once

        return accept_once(self, target, category, list(users), context or {}).delivered

    def wants_process_event(self, event: str) -> bool:
        """Stock and part changes (recovery) and new build orders (shortfall at creation)."""
        return events.wanted(event)

    def process_event(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Act on an event in the worker."""
        events.handle(self, event, kwargs)

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

        days = int(self.current_settings()["NOTIFICATIONS_DELETE_DAYS"] or 0)
        if days <= 0:
            return
        cutoff = timezone.now() - timedelta(days=days)
        messages, _ = NotificationMessage.objects.filter(creation__lt=cutoff).delete()
        deleted = 0
        if self.outbox_ready():
            from .outbox import prune

            deleted = prune(days)
        logger.info("Notify Plus: pruned %s notifications and %s deliveries", messages, deleted)

    # -- state and configuration ---------------------------------------------------------------

    def current_settings(self) -> dict[str, Any]:
        """Every setting, fresh from the database in one query."""
        return plugin_settings.read_all(self)

    def handles(self, category: str, settings: dict[str, Any] | None = None) -> bool:
        """Whether Notify Plus delivers this notification category (else InvenTree alone does)."""
        settings = settings or self.current_settings()
        if not settings["NOTIFICATIONS_ENABLE"]:
            return False
        if category == LOW_STOCK:
            return bool(settings["NOTIFICATIONS_LOW_STOCK"])
        return category == BUILD_SHORTFALL or bool(settings["NOTIFICATIONS_OTHER"])

    def readiness(self) -> readiness.Readiness:
        """App integration on and migrations applied (the outbox tables exist)."""
        return readiness.check()

    def outbox_ready(self) -> bool:
        """Deliveries can be queued durably."""
        return self.readiness().ready

    def owns_email(self, settings: dict[str, Any] | None = None) -> bool:
        """Notify Plus emails people now (InvenTree's email skips those it queued for)."""
        settings = settings or self.current_settings()
        return bool(
            settings["NOTIFICATIONS_ENABLE"] and settings["EMAIL_ENABLE"] and self.outbox_ready()
        )

    def integration_warnings(self, settings: dict[str, Any] | None = None) -> list[str]:
        """What keeps Notify Plus from working fully, what it costs, and how to fix it."""
        from common.settings import get_global_setting

        needs = {
            "ENABLE_PLUGINS_SCHEDULE": "schedule integration is off: no retries, digests or cleanup",
            "ENABLE_PLUGINS_EVENTS": "event integration is off: stock recovery is noticed only by "
            "the sweep, and build orders are checked for short parts only when issued",
            "ENABLE_PLUGINS_URL": "URL integration is off: no delivery log or test endpoints",
            "ENABLE_PLUGINS_INTERFACE": "interface integration is off: no Notify Plus panels on "
            "parts, categories and locations, no 'My notifications'",
        }
        warnings = self.readiness().problems()
        warnings += [text for key, text in needs.items() if not get_global_setting(key, False)]
        config = self.routing_config(settings)
        warnings += [f"routes: {p}" for p in config.problems]
        warnings += [
            f"routes: {p}"
            for p in routing.unknown_category_problems(config.routes, ui.route_categories())
        ]
        if (slack := inventree_slack()).active:
            warnings.append(slack.warning)
        return warnings

    _warned: set[str] = set()
    _warnings_checked = 0.0

    def log_warnings_once(self, settings: dict[str, Any] | None = None) -> None:
        """Say each warning in the log once per process (it is also in the delivery log).

        Checked at most once a minute: it reads InvenTree's global settings.
        """
        now = time.monotonic()
        if now - NotifyPlusPlugin._warnings_checked < 60:
            return
        NotifyPlusPlugin._warnings_checked = now
        for text in self.integration_warnings(settings):
            if text not in NotifyPlusPlugin._warned:
                NotifyPlusPlugin._warned.add(text)
                logger.warning("Notify Plus: %s", text)

    def routing_config(self, settings: dict[str, Any] | None = None) -> routing.RoutingConfig:
        """Destinations and routes from the settings (the single webhooks are 'default')."""
        settings = settings or self.current_settings()
        destinations: list[routing.WebhookDestination] = []
        problems: list[str] = []
        for kind in routing.WEBHOOK_KINDS:
            url = (settings[f"{kind.upper()}_WEBHOOK_URL"] or "").strip()
            if url:
                destinations.append(routing.WebhookDestination(kind, "default", url))
            extra, extra_problems = routing.parse_destinations_lenient(
                kind, settings[f"{kind.upper()}_EXTRA_WEBHOOKS"] or ""
            )
            destinations += extra
            problems += extra_problems
        routes, route_problems = routing.parse_routes_lenient(
            settings["ROUTES"] or "", [d.key for d in destinations]
        )
        return routing.RoutingConfig(
            email_enabled=bool(settings["EMAIL_ENABLE"]),
            destinations=destinations,
            routes=routes,
            problems=problems + route_problems,
            categories_enabled={
                inventree_notices.LOW_STOCK: bool(settings["NOTIFICATIONS_LOW_STOCK"]),
                inventree_notices.RECOVERED: bool(settings["NOTIFICATIONS_RECOVERY"]),
            },
        )

    def configured_destinations(self) -> list[dict[str, str]]:
        """The Slack/Discord destinations, masked: what an admin may see of the secrets."""
        return [{"key": d.key, "url": mask_url(d.url)} for d in self.routing_config().destinations]
