"""Apprise URLs: reading and checking them, showing them masked, keeping their secrets out of logs.

Apprise URLs are credentials (a token, a password, an ntfy topic), so every place that shows or
logs one goes through here: ``validate_apprise_url`` (the setting's validator and the console's
form, with Apprise's own parser), ``mask_apprise_url`` (labels), and a logging filter on
Apprise's and urllib3's loggers that removes each URL's secret parts from every record.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..validation import ALLOWED_HOSTS_ENV, extra_allowed_hosts


def mask_apprise_url(url: str) -> str:
    """What an admin may see of an Apprise URL: the service and its host, nothing after.

    Every path is hidden, not only the parts Apprise calls tokens: an ntfy topic or a Matrix
    room is as good as a password to whoever knows it. From Apprise's own privacy form
    (``url(privacy=True)``), so a password in the host part is masked too:
    ``ntfys://ntfy.sh/***``, ``matrixs://user:****@matrix.example.com/***``.
    """
    plugin = instantiate(url)
    shown = plugin.url(privacy=True) if plugin is not None else url
    scheme, _, rest = shown.partition("://")
    authority = rest.split("?", 1)[0].split("/", 1)[0]
    if plugin is None:  # not readable: show no more than the scheme and host
        authority = authority.rpartition("@")[2]
    return f"{scheme}://{authority}/***"


def _secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials: the URL, password, user, path segments."""
    from apprise.utils.parse import parse_url

    found = [url]
    parsed = parse_url(url, verify_host=False) or {}
    for key in ("password", "user"):
        if parsed.get(key):
            found.append(str(parsed[key]))
    path = str(parsed.get("fullpath") or "")
    found += [s for s in re.split(r"[/?&=#]", path) if len(s) >= 4]
    found += [str(v) for v in (parsed.get("qsd") or {}).values() if len(str(v)) >= 6]
    host = str(parsed.get("host") or "")
    if host and "." not in host and len(host) >= 8:  # tokens in the host slot (tgram://TOKEN/...)
        found.append(host)
    return sorted({s for s in found if s}, key=len, reverse=True)


class _Secrets:
    """The secrets of every Apprise URL this process sends to, for the log filter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known: dict[str, list[str]] = {}

    def add(self, url: str) -> list[str]:
        with self.lock:
            if url not in self.known:
                self.known[url] = _secrets(url)
            return self.known[url]

    def scrub(self, text: str) -> str:
        with self.lock:
            groups = list(self.known.values())
        for secrets in groups:
            text = scrub_secrets(text, secrets)
        return text


SECRETS = _Secrets()


def scrub_secrets(text: str, secrets: Sequence[str]) -> str:
    """Replace each secret (longest first) with ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class ScrubFilter(logging.Filter):
    """Rewrites the ``apprise`` logger's records without the URLs' secrets (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the formatted message in place."""
        try:
            message = record.getMessage()
        except Exception:
            return True
        scrubbed = SECRETS.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


# Apprise's own logger, and urllib3's, which logs each request line (``POST /hooks/<token>``) at
# debug level under requests. A logger's filter sees only records logged on that very logger.
SCRUBBED_LOGGERS = ("apprise", "urllib3.connectionpool")


def install_log_filter() -> None:
    """Attach the scrubbing filter to Apprise's and urllib3's loggers once."""
    for name in SCRUBBED_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, ScrubFilter) for f in target.filters):
            target.addFilter(ScrubFilter())


# -- URLs -----------------------------------------------------------------------------------------


def instantiate(url: str) -> Any:
    """Apprise's plugin for ``url`` (its own parser), or None when Apprise cannot read it."""
    import apprise

    return apprise.Apprise.instantiate(url, asset=apprise_asset(), suppress_exceptions=True)


def apprise_asset() -> Any:
    """Apprise's settings for us: in the calling call (answers recorded), nothing on disk."""
    import apprise

    return apprise.AppriseAsset(async_mode=False, storage_mode="memory")


def validate_apprise_url(url: str) -> None:
    """Refuse a URL Apprise cannot use, or plain http to a host not allowed; name the problem.

    The message never repeats the URL itself (it is a secret); it says the service, what is
    wrong and what to do.
    """
    url = (url or "").strip()
    if "://" not in url:
        raise ValidationError(
            _("An Apprise URL looks like ntfys://ntfy.sh/topic or mmosts://host/token."),
            code="invalid_apprise_url",
        )
    scheme = url.partition("://")[0].lower()
    if not _known_scheme(scheme):
        raise ValidationError(
            _(
                "Apprise does not know the service '{scheme}://' (see Apprise's list of services)."
            ).format(scheme=scheme),
            code="unknown_service",
        )
    plugin = instantiate(url)
    if plugin is None:
        raise ValidationError(
            _(
                "Apprise could not read this '{scheme}://' URL: a token, host or target is "
                "missing or malformed (compare it with the service's page in Apprise's wiki)."
            ).format(scheme=scheme),
            code="invalid_apprise_url",
        )
    check_plain_http(plugin, scheme)


def _known_scheme(scheme: str) -> bool:
    from apprise.manager_plugins import NotificationManager

    return scheme in NotificationManager()


def check_plain_http(plugin: Any, scheme: str) -> None:
    """Unencrypted services only to hosts the admin allowed (a stand-in, an internal server)."""
    secure = getattr(plugin, "secure", True)
    host = str(getattr(plugin, "host", "") or "").lower()
    if secure or not host:
        return
    port = getattr(plugin, "port", None)
    extra = extra_allowed_hosts()
    if host in extra or (port and f"{host}:{port}" in extra):
        return
    raise ValidationError(
        _(
            "'{scheme}://' sends unencrypted to {host}; use the secure form (e.g. "
            "'{scheme}s://') or add '{host}' to the environment variable {env}."
        ).format(scheme=scheme, host=host, env=ALLOWED_HOSTS_ENV),
        code="insecure_host",
    )
