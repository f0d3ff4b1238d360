"""Destinations and routes as the admin configured them in the plugin settings.

The single webhook settings are each kind's ``default`` destination, the *More ... channels*
settings add named ones, and *Routes* says which notices go where. Read leniently: a setting
that no longer parses (it was valid when saved, a destination it names has since gone) is
reported as a problem (Health, the log) instead of stopping delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..notice_categories import LOW_STOCK, RECOVERED
from .config import (
    APPRISE_KIND,
    SIGNED_WEBHOOK,
    WEBHOOK_KINDS,
    RoutingConfig,
    WebhookDestination,
    mask_destination_url,
    parse_destinations_lenient,
    parse_routes_lenient,
)
from .slack_app import parse_app_channels_lenient


def from_settings(settings: Mapping[str, Any]) -> RoutingConfig:
    """Destinations and routes from the settings (the single webhooks are 'default')."""
    destinations: list[WebhookDestination] = []
    problems: list[str] = []
    for kind in WEBHOOK_KINDS:
        url = (settings[f"{kind.upper()}_WEBHOOK_URL"] or "").strip()
        if url:
            destinations.append(WebhookDestination(kind, "default", url))
        extra, extra_problems = parse_destinations_lenient(
            kind, settings[f"{kind.upper()}_EXTRA_WEBHOOKS"] or ""
        )
        destinations += extra
        problems += extra_problems
    # --- slack-app ---
    token = str(settings.get("SLACK_BOT_TOKEN") or "").strip()
    apps, app_problems = parse_app_channels_lenient(
        str(settings.get("SLACK_APP_CHANNELS") or ""),
        [d.name for d in destinations if d.kind == "slack"],
    )
    if apps and not token:
        app_problems.append(
            "Slack app channels are set but the 'Slack bot token' is empty: their deliveries "
            "are skipped until it is set"
        )
    destinations += apps
    problems += app_problems
    # --- webhooks --- signed outgoing webhooks: WEBHOOK_URLS names them, WEBHOOK_SECRET signs.
    hooks, hook_problems = parse_destinations_lenient(
        SIGNED_WEBHOOK, settings.get("WEBHOOK_URLS") or "", allow_default=True
    )
    secret = (settings.get("WEBHOOK_SECRET") or "").strip()
    if hooks and not secret:
        hook_problems.append(
            "webhook destinations are configured but 'Webhook secret' is empty: they are not "
            "sent until a secret is set (Destinations > Generate secret)"
        )
    destinations += hooks
    problems += hook_problems
    # --- apprise --- named Apprise URLs (``apprise:<name>``); absent in older settings snapshots.
    apprise, apprise_problems = parse_destinations_lenient(
        APPRISE_KIND, settings.get("APPRISE_URLS") or ""
    )
    destinations += apprise
    problems += apprise_problems
    routes, route_problems = parse_routes_lenient(
        settings["ROUTES"] or "", [d.key for d in destinations]
    )
    return RoutingConfig(
        email_enabled=bool(settings["EMAIL_ENABLE"]),
        destinations=destinations,
        routes=routes,
        problems=problems + route_problems,
        slack_bot_token=token,
        webhook_secret=secret,
        categories_enabled={
            LOW_STOCK: bool(settings["NOTIFICATIONS_LOW_STOCK"]),
            RECOVERED: bool(settings["NOTIFICATIONS_RECOVERY"]),
        },
    )


def masked_destinations(config: RoutingConfig) -> list[dict[str, str]]:
    """Every configured destination, masked: what an admin may see of the secrets."""
    return [
        {
            "key": d.key,
            "kind": d.kind,
            "name": d.name,
            "url": f"Slack app, channel {d.url}" if d.app else mask_destination_url(d.kind, d.url),
        }
        for d in config.destinations
    ]
