"""Slack incoming webhooks, through Slack's own client (``slack_sdk.webhook.WebhookClient``).

Block Kit: a header, the facts as fields, a button to InvenTree. Text from the database is inert
everywhere: ``plain_text`` objects (never interpreted) in a single notice; in a digest's
``mrkdwn`` sections (needed for the links) and in the notification ``text`` fallback it is
escaped by ``escaping.slack_text``, and every ``mrkdwn`` object is ``"verbatim": true`` so Slack
does not link ``#channel`` names, ``@here`` or URLs typed into a part name. The only markup is
our own: digest links and the mention tokens of users who opted in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk.webhook import WebhookClient

from ..escaping import slack_text, truncate
from ..notice import Line, Notice, Severity
from ..redaction import scrub
from ..snoozing import links as snooze_links
from .base import (
    Channel,
    Destination,
    RateLimit,
    SendResult,
    category_label,
    compact_line,
    digest_headline,
)

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
# Lines of a notice (e.g. a build order's short parts) shown under it in a digest.
DIGEST_SUBLINES = 10
# Slack truncates messages past 40,000 characters; stay well inside.
MAX_MESSAGE_CHARS = 36000

# Errors after which a retry cannot succeed (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors).
PERMANENT_ERRORS = frozenset(
    {
        "invalid_payload",
        "user_not_found",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
        "posting_to_general_channel_denied",
        "too_many_attachments",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "invalid_token",
        "no_text",
    }
)

_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}

# slack_sdk logs the full webhook URL at DEBUG; keep its logger above that.
_sdk_logger = logging.getLogger("inventree_notify_plus.slack_sdk")
_sdk_logger.setLevel(logging.WARNING)


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": False}


def _mrkdwn(text: str) -> dict[str, Any]:
    """Our own markup around escaped database text; Slack adds none of its own (verbatim)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _button(url: str, text: str = "Open in InvenTree") -> dict[str, Any]:
    return {"type": "button", "text": _plain(text, MAX_BUTTON_TEXT), "url": url[:MAX_URL]}


class SlackChannel(Channel):
    """One incoming webhook = one Slack channel."""

    kind = "slack"
    # Slack allows about one message per second per webhook; 10% margin for network jitter.
    rate_limit = RateLimit(burst=1, per_second=0.9)

    def render(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Block Kit payload: one notice in full, or a digest with one section per notice."""
        if len(notices) == 1:
            blocks = self._single(notices[0])
            text = f"{_EMOJI[notices[0].severity]} {slack_text(notices[0].title)}"
        else:
            blocks, _ = self._digest(notices)
            text = slack_text(digest_headline(notices))
        if mentions:
            tokens = " ".join(f"<@{m}>" for m in mentions)
            blocks.insert(1, {"type": "context", "elements": [_mrkdwn(tokens)]})
            text = f"{text} {tokens}"
        return {"text": truncate(text, MAX_SECTION_TEXT), "blocks": blocks[:MAX_BLOCKS]}

    def _single(self, notice: Notice) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": _plain(notice.title, MAX_HEADER_CHARS)},
        ]
        if notice.summary:
            blocks.append({"type": "section", "text": _plain(notice.summary, MAX_SECTION_TEXT)})
        if notice.facts:
            fields = [
                _plain(f"{fact.label}: {fact.value}", MAX_FIELD_TEXT)
                for fact in notice.facts[:MAX_FIELDS]
            ]
            blocks.append({"type": "section", "fields": fields})
        room = MAX_BLOCKS - len(blocks) - 4  # link, snooze, footer, mentions
        for line in notice.lines[:room]:
            section: dict[str, Any] = {
                "type": "section",
                "text": _plain(_line_text(line), MAX_SECTION_TEXT),
            }
            if line.link:
                section["accessory"] = _button(line.link, "Open")
            blocks.append(section)
        if len(notice.lines) > room:
            more = len(notice.lines) - room
            blocks.append(
                {"type": "context", "elements": [_plain(f"… and {more} more lines", 200)]}
            )
        if notice.link:
            blocks.append({"type": "actions", "elements": [_button(notice.link)]})
        if snooze := snooze_links(notice, self.context.site_url):
            text = " · ".join(f"<{url[:MAX_URL]}|{label}>" for label, url in snooze)
            blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
        blocks.append(
            {
                "type": "context",
                "elements": [
                    _plain(f"{self.context.instance_name} · {category_label(notice.category)}", 200)
                ],
            }
        )
        return blocks

    def capacity(self, notices: Sequence[Notice]) -> int:
        """How many notices fit one message (blocks, 3000 per section, message size)."""
        return max(1, self._digest(notices)[1])

    def _digest(self, notices: Sequence[Notice]) -> tuple[list[dict[str, Any]], int]:
        """One line per notice with its link, packed into sections of up to 3000 characters.

        Titles, summaries and lines are escaped (``escaping.slack_text``), so a link text can
        neither format, become a mention nor break out of its ``<url|text>``.
        """
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": _plain(digest_headline(notices), MAX_HEADER_CHARS)}
        ]
        budget = MAX_MESSAGE_CHARS
        current: list[str] = []
        size = 0
        shown = 0
        for notice in notices:
            title = slack_text(truncate(notice.title, 150)).replace("|", "¦")
            line = f"• <{notice.link[:MAX_URL]}|{title}>" if notice.link else f"• {title}"
            if notice.summary:
                line += f" - {slack_text(truncate(notice.summary, 150))}"
            for item in notice.lines[:DIGEST_SUBLINES]:
                line += f"\n      ◦ {slack_text(truncate(_line_text(item), 150))}"
            if len(notice.lines) > DIGEST_SUBLINES:
                line += f"\n      ◦ … and {len(notice.lines) - DIGEST_SUBLINES} more lines"
            if size + len(line) + 1 > MAX_SECTION_TEXT:
                if len(blocks) >= MAX_BLOCKS - 3:
                    break
                blocks.append({"type": "section", "text": _mrkdwn("\n".join(current))})
                current, size = [], 0
            if budget - len(line) < 0:
                break
            current.append(line)
            size += len(line) + 1
            budget -= len(line) + 1
            shown += 1
        if current:
            blocks.append({"type": "section", "text": _mrkdwn("\n".join(current))})
        if shown < len(notices):
            more: dict[str, Any] = {
                "type": "section",
                "text": _plain(f"… and {len(notices) - shown} more", 200),
            }
            if self.context.notifications_url:
                more["accessory"] = _button(self.context.notifications_url, "See all in InvenTree")
            blocks.append(more)
        blocks.append({"type": "context", "elements": [_plain(self.context.instance_name, 200)]})
        return blocks, shown

    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """Post through WebhookClient (its own retries off: the outbox decides)."""
        payload = self.render(destination, notices, mentions)
        client = WebhookClient(
            destination.address,
            timeout=int(max(1, self.timeout)),
            logger=_sdk_logger,
            retry_handlers=[],
        )
        try:
            response = client.send_dict(payload)
        except Exception as exc:  # URLError, timeout, connection refused
            return SendResult.retry(scrub(f"{type(exc).__name__}: {exc}", destination.address))
        return classify_slack_response(response.status_code, response.body, response.headers)


def _line_text(line: Line) -> str:
    """'Resistor 10k: required 50, available 12' (empty values left out)."""
    return compact_line(line)


def classify_slack_response(status: int, body: str, headers: dict[str, Any]) -> SendResult:
    """Turn a Slack webhook answer into sent / retry-after / permanent."""
    body = (body or "").strip()
    if status == 200:
        return SendResult.sent(body or "ok", status=status)
    if status == 429:
        retry_after = _header(headers, "Retry-After")
        return SendResult.retry(
            f"rate limited (429), Retry-After {retry_after or '?'}s", _seconds(retry_after), status
        )
    detail = f"Slack answered {status}: {body[:200]}" if body else f"Slack answered {status}"
    if status >= 500:
        return SendResult.retry(detail, status=status)
    if body in PERMANENT_ERRORS or status in (400, 403, 404, 410):
        return SendResult.permanent(detail, status=status)
    return SendResult.retry(detail, status=status)


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
