"""Text from the database is data, never markup.

Part names, descriptions and references are written by users; a part named
``@everyone <!channel> **x**`` must render literally and ping nobody.
"""

from __future__ import annotations

import re

_ZWSP = "\u200b"

# Slack: only &, < and > are control characters in mrkdwn and `text`
# (https://docs.slack.dev/messaging/formatting-message-text#escaping).
_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

# Discord markdown: every character that starts formatting, a link, a heading or a quote.
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")
_DISCORD_MENTION = re.compile(r"@(?=(everyone|here|[!&]?\d))", re.IGNORECASE)


def slack_text(text: object) -> str:
    """Escape for Slack mrkdwn and the notification `text`: no links, no mentions."""
    return "".join(_SLACK_ESCAPES.get(ch, ch) for ch in str(text))


def discord_text(text: object) -> str:
    """Escape Discord markdown and defuse @everyone / @here / <@id> mentions.

    Mentions are also disabled by ``allowed_mentions``; escaping keeps the *display* literal.
    """
    escaped = _DISCORD_MARKDOWN.sub(r"\\\1", str(text))
    escaped = escaped.replace("<", "<" + _ZWSP)
    return _DISCORD_MENTION.sub("@" + _ZWSP, escaped)


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Cut ``text`` to ``limit`` characters, saying so with ``marker``."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker
