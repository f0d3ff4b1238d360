"""Validators for the plugin settings, with errors that say what is wrong and what is accepted.

Webhook URLs are credentials that point at the internet: only ``https`` on the services' own
hosts is accepted, unless the admin names more hosts (a proxy, a Mattermost or Rocket.Chat
server, a test stand-in) in ``INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS``; only those may use ``http``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import SplitResult, urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

ALLOWED_HOSTS_ENV = "INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS"

SLACK_HOSTS = frozenset({"hooks.slack.com"})
DISCORD_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
)

_SLACK_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")
_DISCORD_USER_ID = re.compile(r"^\d{17,20}$")


def extra_allowed_hosts() -> frozenset[str]:
    """Hosts (``host`` or ``host:port``, lower case) the admin admits beyond the official ones."""
    raw = os.environ.get(ALLOWED_HOSTS_ENV, "")
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


def _is_extra_host(host: str, port: int | None, extra: frozenset[str]) -> bool:
    return host in extra or (port is not None and f"{host}:{port}" in extra)


def _split_url(url: str) -> tuple[SplitResult, str, int | None]:
    """The URL's parts, its lower-cased host and its port; a ValidationError if it is malformed."""
    try:
        parts = urlsplit(url)
        return parts, (parts.hostname or "").lower(), parts.port
    except ValueError as exc:
        raise ValidationError(
            _("Not a valid URL: {error}").format(error=exc), code="invalid_url"
        ) from exc


def _check_webhook(url: str, service: str, hosts: frozenset[str], path_prefix: str) -> None:
    url = (url or "").strip()
    if not url:
        return
    parts, host, port = _split_url(url)

    extra = extra_allowed_hosts()
    if _is_extra_host(host, port, extra):
        if parts.scheme not in ("http", "https"):
            raise ValidationError(
                _("Use an http or https URL for the host {host}.").format(host=host),
                code="invalid_scheme",
            )
        return

    accepted = ", ".join(sorted(hosts))
    if parts.scheme != "https":
        raise ValidationError(
            _(
                "{service} webhook URLs must use https (got '{scheme}'). Only hosts listed in "
                "the environment variable {env} may use http."
            ).format(service=service, scheme=parts.scheme or "none", env=ALLOWED_HOSTS_ENV),
            code="invalid_scheme",
        )
    if host not in hosts:
        raise ValidationError(
            _(
                "{service} webhook URLs must point at {accepted} (got '{host}'). To use another "
                "server (a proxy, Mattermost, Rocket.Chat), add 'host' or 'host:port' to the "
                "environment variable {env}."
            ).format(service=service, accepted=accepted, host=host, env=ALLOWED_HOSTS_ENV),
            code="invalid_host",
        )
    if not parts.path.startswith(path_prefix) or len(parts.path) <= len(path_prefix):
        raise ValidationError(
            _(
                "{service} webhook URLs look like https://{host}{prefix}… (copy it from {where})."
            ).format(
                service=service,
                host=sorted(hosts)[0],
                prefix=path_prefix,
                where=_("the app's Incoming Webhooks page")
                if service == "Slack"
                else _("Server Settings > Integrations > Webhooks"),
            ),
            code="invalid_path",
        )


def validate_slack_webhook_url(url: str) -> None:
    """A Slack incoming webhook: ``https://hooks.slack.com/services/…``."""
    _check_webhook(url, "Slack", SLACK_HOSTS, "/services/")


def validate_discord_webhook_url(url: str) -> None:
    """A Discord webhook: ``https://discord.com/api/webhooks/<id>/<token>``."""
    _check_webhook(url, "Discord", DISCORD_HOSTS, "/api/webhooks/")


def validate_slack_member_id(value: str) -> None:
    """A Slack member id (``U…`` or ``W…``), as shown in the profile under 'Copy member ID'."""
    value = (value or "").strip()
    if value and not _SLACK_MEMBER_ID.match(value):
        raise ValidationError(
            _(
                "A Slack member ID looks like U012AB3CD (Slack: your profile > ⋮ > Copy member ID); "
                "leave empty to not be mentioned."
            ),
            code="invalid_slack_member",
        )


def validate_discord_user_id(value: str) -> None:
    """A Discord user id: 17-20 digits (Developer Mode > right click user > Copy User ID)."""
    value = (value or "").strip()
    if value and not _DISCORD_USER_ID.match(value):
        raise ValidationError(
            _(
                "A Discord user ID is 17 to 20 digits (enable Developer Mode, then right-click your "
                "name > Copy User ID); leave empty to not be mentioned."
            ),
            code="invalid_discord_user",
        )


def validate_non_negative(value: object) -> None:
    """Whole numbers from 0 up (0 often means 'off' or 'keep')."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise ValidationError(_("Enter a whole number, 0 or more."), code="invalid") from exc
    if number < 0:
        raise ValidationError(_("Enter a whole number, 0 or more."), code="negative")


class WholeNumberRange:
    """A whole number from ``low`` to ``high``; the message states the range and what 0 means.

    Used as a setting validator after ``int`` (InvenTree then renders the setting as a number).
    ``zero`` says what 0 means where it is allowed ("no grouping", "keep all"); where 0 would
    mean nothing (no attempt, no time to retry), ``low`` is 1 and 0 is refused.
    """

    def __init__(self, low: int, high: int, zero: str = "") -> None:
        self.low, self.high, self.zero = low, high, zero

    @property
    def text(self) -> str:
        """The range as the setting's description states it: '0 to 3600 (0 means no grouping)'."""
        zero = f" (0 means {self.zero})" if self.zero and self.low == 0 else ""
        return f"{self.low} to {self.high}{zero}"

    def __call__(self, value: object) -> None:
        """Raise a ValidationError naming the accepted range unless ``value`` is within it."""
        try:
            number = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            number = None
        if number is None or not self.low <= number <= self.high:
            raise ValidationError(
                _("Enter a whole number from {low} to {high}{zero} (got '{value}').").format(
                    low=self.low,
                    high=self.high,
                    zero=f"; 0 means {self.zero}" if self.zero and self.low == 0 else "",
                    value=value,
                ),
                code="out_of_range",
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WholeNumberRange) and (self.low, self.high, self.zero) == (
            other.low,
            other.high,
            other.zero,
        )

    def __hash__(self) -> int:
        return hash((self.low, self.high, self.zero))


# The integer settings' ranges: enforced on save, stated in each description.
GROUP_INTERVAL_RANGE = WholeNumberRange(0, 3600, "no grouping")
DELETE_DAYS_RANGE = WholeNumberRange(0, 3650, "keep everything")
RETRY_ATTEMPTS_RANGE = WholeNumberRange(1, 100)
RETRY_HOURS_RANGE = WholeNumberRange(1, 168)


# --- slack-app ---
# Slack app mode: a bot token and the Web API's base URL (for stand-ins and Slack-compatible
# servers, set in InvenTree's environment like the allowed hosts).
SLACK_API_URL_ENV = "INVENTREE_NOTIFY_PLUS_SLACK_API_URL"
SLACK_API_DEFAULT = "https://slack.com/api/"
SLACK_API_HOSTS = frozenset({"slack.com", "slack-gov.com"})

_SLACK_BOT_TOKEN = re.compile(r"^xoxb-[A-Za-z0-9-]{10,250}$")
_SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,20}$")


def validate_slack_bot_token(value: str) -> None:
    """Empty (no Slack app) or a bot token, ``xoxb-…``; the message never repeats the value."""
    value = (value or "").strip()
    if not value or _SLACK_BOT_TOKEN.match(value):
        return
    if value.startswith(("xoxp-", "xoxe", "xapp-")):
        raise ValidationError(
            _(
                "That is not a bot token (it starts with '{prefix}'). Use the app's 'Bot User "
                "OAuth Token' (xoxb-…) from api.slack.com/apps > your app > OAuth & Permissions."
            ).format(prefix=value.split("-", 1)[0] + "-"),
            code="invalid_slack_token",
        )
    raise ValidationError(
        _(
            "A Slack bot token looks like xoxb-… (api.slack.com/apps > your app > OAuth & "
            "Permissions > Bot User OAuth Token); leave empty to not use a Slack app."
        ),
        code="invalid_slack_token",
    )


def validate_slack_channel_id(value: str) -> None:
    """A Slack channel id (``C…``, or ``G…`` for an old private channel), not its #name."""
    if not _SLACK_CHANNEL_ID.match(value or ""):
        raise ValidationError(
            _(
                "'{value}' is not a Slack channel ID. It looks like C0123ABCD: in Slack open the "
                "channel, click its name, and copy the 'Channel ID' at the bottom of 'About'."
            ).format(value=value),
            code="invalid_slack_channel",
        )


def slack_api_url() -> str:
    """The Slack Web API base URL from the environment, checked like a webhook URL's host.

    https to Slack's own hosts; any other host (a stand-in, a Slack-compatible server), and
    http, only when listed in ``INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS``. Raises a ValidationError
    naming the variable otherwise.
    """
    url = os.environ.get(SLACK_API_URL_ENV, "").strip() or SLACK_API_DEFAULT
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError as exc:
        raise ValidationError(
            _("{env} is not a valid URL: {error}").format(env=SLACK_API_URL_ENV, error=exc),
            code="invalid_url",
        ) from exc
    if _is_extra_host(host, port, extra_allowed_hosts()):
        if parts.scheme in ("http", "https"):
            return url if url.endswith("/") else url + "/"
    elif parts.scheme == "https" and host in SLACK_API_HOSTS:
        return url if url.endswith("/") else url + "/"
    raise ValidationError(
        _(
            "{env} must be an https URL on {hosts} (got '{url}'); another host, or http, only "
            "when listed in {allowed}."
        ).format(
            env=SLACK_API_URL_ENV,
            hosts=", ".join(sorted(SLACK_API_HOSTS)),
            url=f"{parts.scheme}://{host}" + (f":{port}" if port else ""),
            allowed=ALLOWED_HOSTS_ENV,
        ),
        code="invalid_slack_api_url",
    )


# --- webhooks ---
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (the form, not a secret)
# The Standard Webhooks specification: secrets of 24 to 64 random bytes, base64 after 'whsec_'.
WEBHOOK_SECRET_BYTES = (24, 64)


def validate_webhook_url(url: str) -> None:
    """An outgoing webhook receiver: any https URL; http only to the allowed hosts.

    Unlike Slack and Discord there is no official host: the receiver is the admin's own (an
    ERP, n8n, Home Assistant), so every https host is accepted.
    """
    url = (url or "").strip()
    if not url:
        return
    parts, host, port = _split_url(url)
    if not host:
        raise ValidationError(
            _("A webhook URL needs a host, e.g. https://erp.example.com/hooks/inventree."),
            code="invalid_url",
        )
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_extra_host(host, port, extra_allowed_hosts()):
        return
    raise ValidationError(
        _(
            "Webhook URLs must use https (got '{scheme}'). Only hosts listed in the environment "
            "variable {env} may use http."
        ).format(scheme=parts.scheme or "none", env=ALLOWED_HOSTS_ENV),
        code="invalid_scheme",
    )


def validate_webhook_secret(value: str) -> None:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 24 to 64 random bytes.

    Checked strictly (the library itself decodes leniently, so a typo would sign with another
    key than the receiver's), then by constructing ``standardwebhooks.Webhook`` with it.
    The message never repeats the value: it is a secret.
    """
    import base64

    from standardwebhooks import Webhook

    value = (value or "").strip()
    if not value:
        return
    low, high = WEBHOOK_SECRET_BYTES
    problem = _(
        "A webhook secret looks like whsec_ followed by the base64 of {low} to {high} random "
        "bytes (Standard Webhooks); use the console's 'Generate secret' to make one."
    ).format(low=low, high=high)
    if not value.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValidationError(problem, code="invalid_secret")
    try:
        raw = base64.b64decode(value[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
        Webhook(value)
    except Exception as exc:  # binascii.Error, or the library's own refusal
        raise ValidationError(problem, code="invalid_secret") from exc
    if not low <= len(raw) <= high:
        raise ValidationError(problem, code="invalid_secret")


def generate_webhook_secret() -> str:
    """A fresh ``whsec_…`` secret of 32 random bytes (the Standard Webhooks form)."""
    import base64
    import secrets

    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
