"""The admin console's *Add destination* form: the kinds it offers, validation as you type, saving.

- ``admin/destinations/kinds/`` (GET): the kinds a named destination can be added as, the
  setting each goes into and an example URL. A kind is one entry of ``KINDS``: another channel
  (signed webhooks) adds itself there.
- ``admin/destinations/validate/`` (POST ``{kind, name, url}``): ``{"valid": true}`` or the exact
  problem and the field it is in, checked by the same parsers the setting's validator runs (for
  Apprise: Apprise's own URL parser).
- ``admin/destinations/`` (POST ``{kind, name, url}``): appends ``name=URL`` to the kind's
  protected setting through InvenTree's plugin settings, whose validator runs again on save.

Staff only. The URL is a secret: no answer repeats it; the saved destination comes back masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .. import validation
from ..routing.config import mask_destination_url
from .plugin_view import NotifyPlusView


def _apprise(url: str) -> None:
    from ..channels.apprise_urls import validate_apprise_url

    validate_apprise_url(url)


@dataclass(frozen=True)
class DestinationKind:
    """A kind of named destination the form can add: its setting, URL check and an example."""

    kind: str
    label: str
    setting: str
    check: Callable[[str], None]
    example: str


KINDS: dict[str, DestinationKind] = {
    "apprise": DestinationKind(
        "apprise",
        "Apprise (Teams, ntfy, Mattermost, Matrix, Telegram, Gotify, Pushover, ...)",
        "APPRISE_URLS",
        _apprise,
        "ntfys://ntfy.sh/stores",
    ),
    "slack": DestinationKind(
        "slack",
        "Slack incoming webhook",
        "SLACK_EXTRA_WEBHOOKS",
        validation.validate_slack_webhook_url,
        "https://hooks.slack.com/services/T000/B000/XXXX",
    ),
    "discord": DestinationKind(
        "discord",
        "Discord webhook",
        "DISCORD_EXTRA_WEBHOOKS",
        validation.validate_discord_webhook_url,
        "https://discord.com/api/webhooks/<id>/<token>",
    ),
    "webhook": DestinationKind(
        "webhook",
        "Signed webhook (Standard Webhooks: an ERP, n8n, Zapier, Home Assistant)",
        "WEBHOOK_URLS",
        validation.validate_webhook_url,
        "https://erp.example.com/hooks/inventree",
    ),
}

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def problem(plugin: Any, kind: str, name: str, url: str) -> tuple[str, str] | None:
    """The first thing wrong with a new destination, as ``(field, message)``, or None."""
    if kind not in KINDS:
        return "kind", f"Pick a kind: {', '.join(KINDS)}."
    name = name.strip()
    if not name:
        return "name", "Give the destination a name (letters, digits, - and _), e.g. 'phones'."
    if not _NAME.match(name):
        return "name", f"Names use letters, digits, - and _ (got '{name}')."
    if name.lower() == "default":
        return "name", "'default' is reserved for the single webhook settings; pick another name."
    key = f"{kind}:{name.lower()}"
    if plugin.routing_config().destination(key) is not None:
        return "name", f"'{key}' exists already; pick another name."
    url = url.strip()
    if not url:
        return "url", "Paste the destination's URL."
    if any(ch.isspace() for ch in url):
        return "url", "A URL has no spaces."
    try:
        KINDS[kind].check(url)
    except ValidationError as exc:
        return "url", " ".join(exc.messages)
    return None


def _fields(request: Request) -> tuple[str, str, str]:
    data = request.data
    return (str(data.get("kind", "")), str(data.get("name", "")), str(data.get("url", "")))


class DestinationKindsView(NotifyPlusView):
    """What the form offers."""

    def get(self, request: Request) -> Response:
        """Each kind: its name, label, setting and an example URL."""
        return Response(
            {
                "kinds": [
                    {"kind": k.kind, "label": k.label, "setting": k.setting, "example": k.example}
                    for k in KINDS.values()
                ]
            }
        )


class DestinationValidateView(NotifyPlusView):
    """Check a new destination as the admin types; nothing is stored."""

    def post(self, request: Request) -> Response:
        """``{kind, name, url}`` -> ``{"valid", "field", "error"}``."""
        found = problem(self.plugin, *_fields(request))
        if found:
            return Response({"valid": False, "field": found[0], "error": found[1]})
        return Response({"valid": True, "field": None, "error": None})


class DestinationAddView(NotifyPlusView):
    """Append a checked destination to its kind's setting (validated again on save)."""

    def post(self, request: Request) -> Response:
        """``{kind, name, url}`` -> 201 with the new key and masked URL, or 400 with the problem."""
        kind, name, url = _fields(request)
        plugin = self.plugin
        found = problem(plugin, kind, name, url)
        if found:
            return Response({"field": found[0], "error": found[1]}, status=400)
        spec = KINDS[kind]
        current = str(plugin.get_setting(spec.setting, cache=False) or "").strip()
        entry = f"{name.strip().lower()}={url.strip()}"
        value = f"{current} {entry}".strip()
        try:
            plugin.set_setting(spec.setting, value, user=request.user)
        except ValidationError as exc:
            return Response({"field": "url", "error": " ".join(exc.messages)}, status=400)
        key = f"{kind}:{name.strip().lower()}"
        return Response(
            {"key": key, "kind": kind, "url": mask_destination_url(kind, url.strip())},
            status=201,
        )
