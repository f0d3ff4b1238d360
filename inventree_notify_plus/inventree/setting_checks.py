"""The validators of the plugin's settings that need more than ``validation``'s pure checks.

They parse what the admin typed as the outbox will read it (destinations, routes, quiet hours)
and check it against what is configured already (a Slack app channel's name must not be a
webhook's). ``settings`` names them in its declarations.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from .. import validation
from ..routing.config import SIGNED_WEBHOOK, parse_destinations, parse_routes
from ..routing.quiet_hours import parse_quiet_hours
from ..routing.slack_app import app_names_clash, parse_app_channels
from . import consent
from .categories import route_categories


def validate_extra_slack(value: str) -> None:
    """More Slack channels: each name=URL a Slack webhook, no name an app channel has."""
    dests = parse_destinations("slack", value)
    for dest in dests:
        validation.validate_slack_webhook_url(dest.url)
    app_names_clash([d.name for d in dests], app_channel_names())


def validate_slack_webhook(value: str) -> None:
    """The Slack webhook URL (``slack:default``), unless an app channel is called default."""
    validation.validate_slack_webhook_url(value)
    if (value or "").strip():
        app_names_clash(["default"], app_channel_names())


def validate_extra_discord(value: str) -> None:
    """More Discord channels: each name=URL a Discord webhook."""
    for dest in parse_destinations("discord", value):
        validation.validate_discord_webhook_url(dest.url)


def validate_webhook_urls(value: str) -> None:
    """Signed webhooks: each name=URL https (http only to allowed hosts); default allowed."""
    for dest in parse_destinations(SIGNED_WEBHOOK, value, allow_default=True):
        validation.validate_webhook_url(dest.url)


def validate_apprise_urls(value: str) -> None:
    """Each ``name=URL`` read by Apprise's own parser; the error names the entry, not its URL."""
    from django.core.exceptions import ValidationError

    from ..channels.apprise_urls import validate_apprise_url

    for dest in parse_destinations("apprise", value):
        try:
            validate_apprise_url(dest.url)
        except ValidationError as exc:
            raise ValidationError(
                _("Apprise URL '{name}': {problem}").format(
                    name=dest.name, problem=" ".join(exc.messages)
                ),
                code=exc.code,
            ) from None


def validate_routes(value: str) -> None:
    """Refuse routes naming an unknown destination or notification category.

    A destination typo would reroute notices; a category typo would make a dead route.
    """
    from plugin import registry

    plugin = registry.get_plugin(consent.SLUG, active=None)
    known = [d.key for d in plugin.routing_config().destinations] if plugin else None
    parse_routes(value, known, route_categories())


def validate_quiet_hours(value: str) -> None:
    """Quiet hours as the outbox reads them (``HH-HH``)."""
    parse_quiet_hours(value)


# --- slack-app: the Slack app's settings check against the saved Slack webhooks ---
def configured_plugin() -> Any:
    """The plugin as configured, active or not (validators run while it is being set up)."""
    from plugin import registry

    return registry.get_plugin(consent.SLUG, active=None)


def slack_webhook_names() -> list[str]:
    """Names of the Slack webhook destinations as saved ('default' while the URL is set)."""
    plugin = configured_plugin()
    if plugin is None:
        return []
    return [d.name for d in plugin.routing_config().destinations if d.kind == "slack" and not d.app]


def app_channel_names() -> list[str]:
    """Names of the Slack app channels as saved."""
    plugin = configured_plugin()
    if plugin is None:
        return []
    return [d.name for d in plugin.routing_config().destinations if d.app]


def validate_slack_app_channels(value: str) -> None:
    """Refuse a bad channel id, a repeated name, or a name a Slack webhook already has."""
    parse_app_channels(value, slack_webhook_names())


def validate_remind_after(value: str) -> None:
    """An interval like 7d, 12h, 30m (empty or 0: off)."""
    from .reminders import parse_interval

    parse_interval(value)
