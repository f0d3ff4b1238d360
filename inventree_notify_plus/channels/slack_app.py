"""Slack app mode: a bot token posts through Slack's Web API, so a message can change and thread.

An incoming webhook answers only ``ok``; ``chat.postMessage`` answers the message's ``ts``, which
the outbox keeps (``SendResult.external_id``). When the notice resolves, ``update`` calls
``chat.update`` on that message (shown resolved, each resolved line of a digest marked) and
adds a thread reply (``thread_ts``) saying so; ``reply`` threads a reminder under it. The message
is rendered by the webhook channel (Block Kit, escaping, digests): only the transport differs.

Slack's answer decides (https://docs.slack.dev/reference/methods/chat.postMessage#errors): a
refusal such as ``invalid_auth`` or ``not_in_channel`` is permanent and recorded word for word;
``ratelimited`` (HTTP 429) goes back to the outbox with Retry-After, unless it is short enough for
slack_sdk's own rate-limit handler to wait it out; 5xx and connection errors are retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from ..notice import Notice, Severity
from ..routing.config import SLACK_APP
from ..validation import slack_api_url
from .base import Destination, Outcome, RateLimit, RenderContext, SendResult, SentMessage
from .slack import SlackChannel

# A Retry-After up to this many seconds is waited out in the worker by slack_sdk's handler (once);
# a longer one goes back to the outbox, so a rate limit never holds the worker for long.
MAX_INLINE_WAIT = 2

# Errors after which the same call cannot succeed: recorded, not retried. Anything else Slack
# answers with ``ok: false`` is permanent too, except the transient ones below.
PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "restricted_action",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "thread_not_found",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

# What an admin does about the commonest refusals (shown after Slack's own word).
_HINTS = {
    "not_in_channel": "invite the app to the channel (/invite @<app name> in the channel)",
    "channel_not_found": "check the channel ID, and invite the app if the channel is private",
    "invalid_auth": "the 'Slack bot token' is not valid for this workspace",
    "not_authed": "the 'Slack bot token' is empty",
    "account_inactive": "the app was removed or its token revoked: reinstall it, update the token",
    "token_revoked": "reinstall the app and update the 'Slack bot token'",
    "missing_scope": "add the chat:write scope to the app and reinstall it",
}

# slack_sdk logs requests at DEBUG; keep its logger above that.
_sdk_logger = logging.getLogger("inventree_notify_plus.slack_sdk")
_sdk_logger.setLevel(logging.WARNING)


class _ShortRateLimitRetry(RateLimitErrorRetryHandler):
    """slack_sdk's rate-limit handler, for short waits only (see ``MAX_INLINE_WAIT``)."""

    def _can_retry(
        self, *, state: Any, request: Any, response: Any = None, error: Any = None
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = _seconds(_header(response.headers, "Retry-After"))
        return wait is not None and wait <= MAX_INLINE_WAIT


class SlackAppChannel(SlackChannel):
    """A channel the Slack app was invited to, by its id; the bot token is the credential."""

    kind = SLACK_APP
    # chat.postMessage: about one message per second per channel.
    rate_limit = RateLimit(burst=1, per_second=0.9)
    edits = True
    threads = True

    def __init__(
        self,
        context: RenderContext | None = None,
        timeout: float = 10.0,
        api_url: str | None = None,
    ) -> None:
        super().__init__(context, timeout)
        self.api_url = api_url  # None: INVENTREE_NOTIFY_PLUS_SLACK_API_URL, else Slack's

    # -- the three things it does --------------------------------------------------------------

    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """``chat.postMessage``; the answer's ``ts`` becomes the delivery's ``external_id``."""
        return self._post(destination, self.render(destination, notices, mentions))

    def update(
        self, destination: Destination, original: SentMessage, notices: Sequence[Notice]
    ) -> SendResult:
        """``chat.update`` the original to show it resolved, then say so in its thread.

        The edit is repeated harmlessly if the thread reply has to be retried. If the original
        cannot be edited any more (deleted, too old), the thread reply still goes.
        """
        resolved = _resolved(original, notices)
        # When each resolution was recorded, where the outbox says (else: now).
        at = getattr(original, "resolved_at", None) or {}
        shown = [_marked(n, resolved.get(n.uid), at.get(n.uid)) for n in original.notices]
        payload = self.render(destination, shown)
        edit = self._call(
            destination,
            "chat_update",
            channel=destination.address,
            ts=original.external_id,
            **payload,
        )
        if edit.outcome == Outcome.RETRY:
            return edit
        news = list(notices) or list(resolved.values()) or shown
        reply = self._post(destination, self.render(destination, news), original.external_id)
        if reply.outcome == Outcome.RETRY:
            return replace(
                reply, detail=f"chat.update: {edit.detail}; thread reply: {reply.detail}"
            )
        detail = f"chat.update: {edit.detail}; thread reply: {reply.detail}"
        if Outcome.SENT in (edit.outcome, reply.outcome):
            return SendResult.sent(detail, status=200, external_id=original.external_id)
        return SendResult.permanent(detail, status=reply.status)

    def reply(
        self,
        destination: Destination,
        original: SentMessage,
        notices: Sequence[Notice],
        mentions: Sequence[str] = (),
    ) -> SendResult:
        """A thread reply (``thread_ts``) under the original: a reminder, a resolution."""
        payload = self.render(destination, notices, mentions)
        return self._post(destination, payload, original.external_id)

    # -- Slack's Web API ----------------------------------------------------------------------

    def _post(
        self, destination: Destination, payload: dict[str, Any], thread_ts: str = ""
    ) -> SendResult:
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        return self._call(
            destination,
            "chat_postMessage",
            channel=destination.address,
            unfurl_links=False,
            unfurl_media=False,
            **payload,
            **extra,
        )

    def _client(self, destination: Destination) -> WebClient:
        return WebClient(
            token=destination.credential,
            base_url=self.api_url or slack_api_url(),
            timeout=int(max(1, self.timeout)),
            logger=_sdk_logger,
            retry_handlers=[_ShortRateLimitRetry(max_retry_count=1)],
        )

    def _call(self, destination: Destination, method: str, **kwargs: Any) -> SendResult:
        """One Web API call, its answer turned into sent (with ``ts``) / retry / permanent."""
        name = method.replace("_", ".")
        if not destination.credential:
            return SendResult.permanent("not_authed: the 'Slack bot token' setting is empty")
        try:
            client = self._client(destination)
        except ValidationError as exc:
            return SendResult.permanent("; ".join(exc.messages))
        try:
            response = getattr(client, method)(**kwargs)
        except SlackApiError as exc:
            return classify_web_api_error(
                exc.response.status_code, exc.response.data, exc.response.headers, name
            )
        except Exception as exc:  # URLError, timeout, connection refused
            text = f"{name}: {type(exc).__name__}: {exc}"
            return SendResult.retry(_scrub(text, destination.credential))
        ts = str(response.get("ts") or "")
        return SendResult.sent(f"ok (ts {ts})", status=response.status_code, external_id=ts)


def classify_web_api_error(status: int, data: Any, headers: Any, method: str) -> SendResult:
    """Slack's refusal as the outbox needs it; the detail starts with Slack's exact error."""
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        retry_after = _header(headers, "Retry-After")
        return SendResult.retry(
            f"ratelimited ({method}), Retry-After {retry_after or '?'}s",
            _seconds(retry_after),
            status,
        )
    if status >= 500 or error in TRANSIENT_ERRORS or (not error and status != 200):
        detail = f"{error or 'HTTP ' + str(status)} ({method})"
        return SendResult.retry(detail, status=status)
    detail = f"{error} ({method})"
    if isinstance(data, dict) and data.get("needed"):
        detail += f", needed scope: {data['needed']}"
    if error in _HINTS:
        detail += f": {_HINTS[error]}"
    return SendResult.permanent(detail, status=status)


def _resolved(original: SentMessage, notices: Sequence[Notice]) -> dict[str, Notice]:
    """Each resolved notice of ``original`` (by uid): as given, or matched by its episode."""
    resolved = dict(original.resolved)
    for notice in notices:
        for sent in original.notices:
            if notice.episode and sent.episode == notice.episode:
                resolved.setdefault(sent.uid, notice)
    return resolved


def _marked(notice: Notice, resolution: Notice | None, at: datetime | None = None) -> Notice:
    """The notice as the edited message shows it: marked resolved, its facts kept."""
    if resolution is None:
        return notice
    when = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = f"Resolved {when}. {resolution.summary or resolution.title}"
    return replace(
        notice, title=f"✅ Resolved: {notice.title}", summary=summary, severity=Severity.INFO
    )


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "xoxb-***") if token else text


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
