"""Apprise destinations (Teams, ntfy, Mattermost, Matrix, Telegram, Gotify, ...) through ``apprise``.

One delivery is one ``apprise.Apprise()`` holding that one URL. Apprise's own retries and its
blocking throttle (``request_rate_per_sec``, a sleep per process) are switched off: the outbox
retries and paces, with a token bucket per destination from the service's documented limits.

What the service said decides the outcome: the HTTP answers Apprise's plugin received are
recorded for the duration of the call (status and ``Retry-After``), so a 429 waits as the server
asked, a 5xx or a timeout is retried and another 4xx is permanent. Apprise's per-service result
(status and log) is the delivery's answer, scrubbed of the URL's secrets; the ``apprise`` logger
gets the same scrubbing filter, so nothing it logs names a token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import requests
from django.core.exceptions import ValidationError

from ..escaping import ZWSP, truncate
from ..notice import Notice, Severity
from .apprise_urls import (
    SECRETS,
    apprise_asset,
    check_plain_http,
    install_log_filter,
    instantiate,
    scrub_secrets,
)
from .base import (
    Channel,
    Destination,
    RateLimit,
    SendResult,
    category_label,
    compact_line,
    digest_headline,
    retry_after_seconds,
)

# Per-service limits from each service's documentation, by Apprise schema (without the "s").
# ntfy.sh: a burst of 60 requests, one more every 5 s. Telegram: about 1 message a second per
# chat and 20 a minute in a group. Teams (Workflows / webhooks): 4 a second, 60 in 30 s.
# Discord: 5 per 2 s per webhook. Slack: 1 a second. Mattermost's API default: 10 a second,
# a burst of 100. Unknown services: a burst of 5, one a second.
SCHEMA_LIMITS: dict[str, RateLimit] = {
    "ntfy": RateLimit(burst=60, per_second=0.2),
    "tgram": RateLimit(burst=1, per_second=1 / 3),
    "workflow": RateLimit(burst=4, per_second=2.0),
    "workflows": RateLimit(burst=4, per_second=2.0),
    "msteams": RateLimit(burst=4, per_second=2.0),
    "discord": RateLimit(burst=5, per_second=0.4),
    "slack": RateLimit(burst=1, per_second=1.0),
    "mmost": RateLimit(burst=100, per_second=10.0),
}
DEFAULT_LIMIT = RateLimit(burst=5, per_second=1.0)

NOTIFY_TYPES = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "failure"}

# Markdown's control characters, and the mention forms of Slack, Mattermost, Discord, Matrix,
# Rocket.Chat and Teams (@here, @channel, @all, @everyone, <@id>, <!here>).
_MARKDOWN = re.compile(r"([\\`*_\[\]#|>~<])")
_MENTION = re.compile(r"@(?=(here|channel|all|everyone|room)\b)", re.IGNORECASE)
_ANGLE_MENTION = re.compile(r"<(?=[@!#])")

# Lines of one notice shown in a message, notices listed in a digest.
MAX_LINES = 10
MAX_DIGEST = 30


def base_schema(url: str) -> str:
    """``ntfys://…`` -> ``ntfy``: the service, secure or not."""
    scheme = (url or "").partition("://")[0].lower()
    return scheme[:-1] if scheme.endswith("s") and scheme[:-1] in SCHEMA_LIMITS else scheme


def limit_for_url(url: str) -> RateLimit:
    """The token bucket for a destination of this service."""
    return SCHEMA_LIMITS.get(base_schema(url), DEFAULT_LIMIT)


# -- what the service answered --------------------------------------------------------------------


@dataclass
class _Answer:
    status: int
    retry_after: str | None


@dataclass
class _Capture:
    answers: list[_Answer] = field(default_factory=list)


# A context variable, not a thread-local: Apprise runs the service in its executor with a copy
# of the caller's context, so the capture follows the call there and nowhere else.
_capture: ContextVar[_Capture | None] = ContextVar("notify_plus_apprise_capture", default=None)
_installed = threading.Lock()
_recording = False


def _install_recorder() -> None:
    """Wrap ``requests.Session.send`` once, so that it notes answers inside an Apprise send.

    Apprise's plugins keep no HTTP status or ``Retry-After``; the wrapper records them only while
    a capture is open in the calling context and is a plain pass-through everywhere else. It wraps
    whatever ``send`` is at that moment, so another library's wrapper stays in place.
    """
    global _recording
    with _installed:
        if _recording:
            return
        previous = requests.Session.send

        def recording_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
            response = previous(self, request, **kwargs)
            capture = _capture.get()
            if capture is not None:
                retry_after = response.headers.get("Retry-After")
                capture.answers.append(_Answer(response.status_code, retry_after))
            return response

        requests.Session.send = recording_send  # type: ignore[method-assign]
        _recording = True


@contextmanager
def _answers() -> Iterator[_Capture]:
    """Record the HTTP answers Apprise's plugin gets in this call (Apprise keeps no status)."""
    _install_recorder()
    capture = _Capture()
    token = _capture.set(capture)
    try:
        yield capture
    finally:
        _capture.reset(token)


# -- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppriseMessage:
    """What Apprise is asked to send: title, body, its format and the notify type."""

    title: str
    body: str
    body_format: str
    notify_type: str


def inert(text: object, markdown: bool) -> str:
    """Database text as data: Markdown escaped (when the body is Markdown), mentions defused."""
    out = str(text)
    if markdown:
        out = _MARKDOWN.sub(r"\\\1", out)
    out = _ANGLE_MENTION.sub("<" + ZWSP, out)
    return _MENTION.sub("@" + ZWSP, out)


def supports_markdown(plugin: Any) -> bool:
    """Whether the service renders Markdown (its format, or among the formats it takes)."""
    fmt = getattr(plugin, "notify_format", None)
    formats = fmt if isinstance(fmt, tuple | list) else (fmt,)
    return any(str(getattr(f, "value", f)) == "markdown" for f in formats)


class AppriseChannel(Channel):
    """One Apprise URL = one destination (``apprise:<name>``)."""

    kind = "apprise"
    rate_limit = DEFAULT_LIMIT
    max_items = MAX_DIGEST

    def __init__(self, context: Any = None, timeout: float = 10.0) -> None:
        super().__init__(context, timeout)
        # Destination key -> URL, for the per-service token bucket (set from the settings).
        self.urls: Mapping[str, str] = {}
        install_log_filter()

    def limit_for(self, destination: str) -> RateLimit | None:
        """The bucket of this destination's service, from its documented limits."""
        url = self.urls.get(destination)
        return limit_for_url(url) if url else self.rate_limit

    def render(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> AppriseMessage:
        """Title and body: Markdown if the service renders it, plain text otherwise."""
        plugin = instantiate(destination.address)
        return self._message(notices, plugin is not None and supports_markdown(plugin))

    def _message(self, notices: Sequence[Notice], markdown: bool) -> AppriseMessage:
        worst = max((n.severity for n in notices), key=list(Severity).index)
        if len(notices) == 1:
            notice = notices[0]
            title = notice.title
            body = self._one(notice, markdown)
        else:
            title = digest_headline(notices)
            body = "\n".join(self._item(n, markdown) for n in notices)
        return AppriseMessage(
            title=truncate(inert(title, False), 200),
            body=body,
            body_format="markdown" if markdown else "text",
            notify_type=NOTIFY_TYPES[worst],
        )

    def _link(self, text: str, link: str, markdown: bool) -> str:
        if not link:
            return text
        return f"[{text}]({link})" if markdown else f"{text} ({link})"

    def _one(self, notice: Notice, markdown: bool) -> str:
        parts = [inert(notice.summary, markdown)] if notice.summary else []
        bullet = "- " if markdown else "• "
        parts += [
            f"{bullet}{inert(f.label, markdown)}: {inert(f.value, markdown)}" for f in notice.facts
        ]
        for line in notice.lines[:MAX_LINES]:
            text = inert(truncate(compact_line(line), 160), markdown)
            parts.append(f"{bullet}{self._link(text, line.link, markdown)}")
        if len(notice.lines) > MAX_LINES:
            parts.append(f"{bullet}… and {len(notice.lines) - MAX_LINES} more")
        if notice.link:
            parts.append(self._link("Open in InvenTree", notice.link, markdown))
        parts.append(f"{self.context.instance_name} · {category_label(notice.category)}")
        return "\n".join(parts)

    def _item(self, notice: Notice, markdown: bool) -> str:
        text = inert(truncate(notice.title, 160), markdown)
        bullet = "- " if markdown else "• "
        return f"{bullet}{self._link(text, notice.link, markdown)}"

    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """One Apprise object with this one URL; classify by what the service answered."""
        import apprise
        from apprise.common import OverflowMode

        secrets = SECRETS.add(destination.address)
        plugin = instantiate(destination.address)
        if plugin is None:
            return SendResult.permanent("Apprise could not read this destination's URL")
        try:
            check_plain_http(plugin, base_schema(destination.address))
        except ValidationError as exc:
            return SendResult.permanent(" ".join(exc.messages))
        # The outbox retries and paces: no retry, no wait, no throttle sleep inside Apprise.
        plugin.retry = 0
        plugin.wait = 0.0
        plugin.request_rate_per_sec = 0
        plugin.socket_connect_timeout = self.timeout
        plugin.socket_read_timeout = self.timeout
        message = self._message(notices, supports_markdown(plugin))
        limit = int(getattr(plugin, "body_maxlen", 0) or 0)
        if limit and len(message.body) + len(message.title) > limit:
            # Longer than the service takes (Teams: 1000 characters): Apprise sends it in parts
            # rather than letting the service cut it or refuse it. Nothing listed is lost.
            plugin.overflow_mode = OverflowMode.SPLIT
        service = apprise.Apprise(asset=apprise_asset())
        service.add(plugin)
        with _answers() as answers:
            try:
                result = service.notify(
                    body=message.body,
                    title=message.title,
                    notify_type=message.notify_type,
                    body_format=message.body_format,
                )
            except Exception as exc:
                detail = scrub_secrets(f"{type(exc).__name__}: {exc}", secrets)
                return SendResult.retry(f"Apprise raised {detail}")
        return classify(result, answers.answers, secrets)


def _log_text(result: Any, secrets: Sequence[str]) -> str:
    lines = []
    for entry in result.logs():
        if entry.level in ("WARNING", "ERROR", "CRITICAL", "INFO"):
            lines.append(f"{entry.level}: {entry.message}")
    return scrub_secrets(" | ".join(lines[-4:]), secrets)[:600]


def classify(result: Any, answers: Sequence[_Answer], secrets: Sequence[str]) -> SendResult:
    """Apprise's result and the service's HTTP answers -> sent / retry (when) / permanent."""
    service = next(iter(result), None)
    name = getattr(service, "name", "") or "Apprise"
    status = getattr(getattr(service, "status", result.status), "name", str(result.status))
    logs = _log_text(result, secrets)
    http = answers[-1] if answers else None
    code = http.status if http else None
    said = f"{name}: {status}" + (f" (HTTP {code})" if code else "") + (f"; {logs}" if logs else "")
    if bool(result):
        return SendResult.sent(said, status=code)
    if status == "TIMEOUT" or http is None:
        return SendResult.retry(said, status=code)
    if code == 429:
        # The service's own words are left out here: the outbox reads "global" in a 429's detail
        # as "hold every destination of the channel", which one service's answer must not do.
        after = retry_after_seconds(http.retry_after)
        waits = f", Retry-After {after:g} s" if after is not None else ", no Retry-After"
        return SendResult.retry(f"{name}: {status} (HTTP 429{waits})", after, status=code)
    if code >= 500 or code == 408:
        return SendResult.retry(said, status=code)
    if 400 <= code < 500:
        return SendResult.permanent(said, status=code)
    return SendResult.retry(said, status=code)
