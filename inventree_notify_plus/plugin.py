"""The InvenTree plugin: declarations and hooks, each delegating to the module named for it.

InvenTree calls :meth:`NotifyPlusPlugin.send_notification` for every notification it
triggers; the intake (``inventree.intake``) turns it into a Notice, routes it, writes the
outbox rows and asks the background worker to drain them. Who emails whom is
``inventree.consent``'s; InvenTree's own email method is kept out of the way by
``inventree.core_email_guard``. The map of every module: the package docstring.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from plugin import InvenTreePlugin
from plugin.mixins import (
    AppMixin,
    EventMixin,
    NotificationMixin,
    ScheduleMixin,
    SettingsMixin,
    UrlsMixin,
    UserInterfaceMixin,
)

from . import __version__
from . import settings as declared
from .inventree import (
    core_email_guard,
    events,
    integration_warnings,
    plugin_settings,
    plugin_state,
    readiness,
    scheduled,
)
from .notice_categories import BUILD_SHORTFALL, LOW_STOCK
from .routing import configured
from .routing.config import RoutingConfig
from .web import panels

# InvenTree's email method skips the recipients Notify Plus answers for, decided per
# notification while this code is loaded (nothing is written to InvenTree).
core_email_guard.guard_core_email()
# Activation (the 1.0 hand-back) and whatever stops Notify Plus emailing (the email it holds
# goes out at once): seen in every process that loads the package, active or not.
plugin_state.watch_plugin_state()


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
    ADMIN_SOURCE = panels.ADMIN_SOURCE  # the admin console (frontend/src/Admin.tsx)

    SETTINGS = declared.SETTINGS
    USER_SETTINGS = declared.USER_SETTINGS

    SCHEDULED_TASKS = {
        "sweep": {"func": "sweep", "schedule": "I", "minutes": 1},
        "prune": {"func": "prune", "schedule": "D"},
    }

    def __init__(self) -> None:
        """Guard InvenTree's email method as the registry (re)creates the plugins."""
        super().__init__()
        core_email_guard.guard_core_email()

    # -- InvenTree hooks ----------------------------------------------------------------------

    def send_notification(self, target: Any, category: Any, users: list, context: dict) -> bool:
        """Route a notification InvenTree triggered and queue its deliveries (never raises)."""
        from .inventree.intake import accept_once

        return accept_once(self, target, category, list(users), context or {}).delivered

    def wants_process_event(self, event: str) -> bool:
        """Stock and part changes (recovery) and new build orders (shortfall at creation)."""
        return events.wanted(event)

    def process_event(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Act on an event in the worker."""
        events.handle(self, event, kwargs)

    def setup_urls(self) -> list:
        """The delivery log, counts, test sends and routing preview, for admins."""
        from .web.urls import urlpatterns

        return urlpatterns

    # -- web UI (frontend/ built into static/; logic in web/panels.py) -------------------------

    def get_ui_panels(self, request: Any, context: dict, **kwargs: Any) -> list:
        """A 'Notifications' panel on Part, Part category and Stock location pages."""
        return panels.panels(self, request, context)

    def get_ui_dashboard_items(self, request: Any, context: dict, **kwargs: Any) -> list:
        """'My notifications' on the dashboard."""
        return panels.dashboard_items(self, request, context)

    def get_admin_context(self) -> dict:
        """Start-up data for the admin console."""
        return panels.admin_context(self)

    # -- scheduled tasks -----------------------------------------------------------------------

    def sweep(self) -> None:
        """Every minute: send whatever is due (nothing stranded if a worker died)."""
        scheduled.sweep(self)

    def prune(self) -> None:
        """Daily: delete notifications and deliveries older than NOTIFICATIONS_DELETE_DAYS."""
        scheduled.prune(self)

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
        return integration_warnings.integration_warnings(self, settings)

    def log_warnings_once(self, settings: dict[str, Any] | None = None) -> None:
        """Say each warning in the log once per process (at most one check a minute)."""
        integration_warnings.log_warnings_once(self, settings)

    def routing_config(self, settings: dict[str, Any] | None = None) -> RoutingConfig:
        """Destinations and routes from the settings (the single webhooks are 'default')."""
        return configured.from_settings(settings or self.current_settings())

    def configured_destinations(self) -> list[dict[str, str]]:
        """The Slack/Discord destinations, masked: what an admin may see of the secrets."""
        return configured.masked_destinations(self.routing_config())
