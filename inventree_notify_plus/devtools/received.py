"""Read back what a stand-in received: which notices a Slack, Discord or email message carries.

Tests and the measurement scripts count notices from what *arrived*, not from the outbox's
own records; these parsers know the shapes the channels render (single notice or digest).
"""

from __future__ import annotations

import html
import re
from email.message import Message
from typing import Any

from ..escaping import SLACK_MARKERS, ZWSP

_DIGEST = re.compile(r"^\d+ notifications:")
_MORE = re.compile(r"… and (\d+) more")
_SLACK_LINE = re.compile(r"^• (?:<[^|>]*\|(.*?)>|(.*?)(?: - |$))")
_DISCORD_LINE = re.compile(r"^• (?:\[(.*?)\]\(|(.*?)(?: - |$))")
_UNESCAPE = re.compile(r"\\(.)")
_SLACK_MARKER = re.compile(f"{ZWSP}([{re.escape(SLACK_MARKERS)}]){ZWSP}")


def slack_titles(payload: dict[str, Any]) -> tuple[list[str], int]:
    """Notice titles in a Slack message, and how many a digest only counted ('and N more')."""
    blocks = payload.get("blocks", [])
    header = blocks[0]["text"]["text"] if blocks else ""
    if not _DIGEST.match(header):
        return [header], 0
    titles, hidden = [], 0
    for block in blocks[1:]:
        text = block.get("text", {}).get("text", "") if block.get("type") == "section" else ""
        for line in text.splitlines():
            found = _SLACK_LINE.match(line)
            if found:
                titles.append(slack_plain(found.group(1) or found.group(2)))
        more = _MORE.search(text)
        if more:
            hidden += int(more.group(1))
    return titles, hidden


def slack_plain(text: str) -> str:
    """Undo ``escaping.slack_text``: entities, the zero-width spaces around markers, '¦'."""
    return _SLACK_MARKER.sub(r"\1", html.unescape(text)).replace("¦", "|")


def discord_titles(payload: dict[str, Any]) -> tuple[list[str], int]:
    """Notice titles in a Discord message (embed title, or digest lines '• [title](link)')."""
    embeds = payload.get("embeds") or [{}]
    title = discord_plain(embeds[0].get("title") or "")
    if not _DIGEST.match(title):
        return [title], 0
    titles, hidden = [], 0
    for embed in embeds:
        for line in (embed.get("description") or "").splitlines():
            found = _DISCORD_LINE.match(line)
            if found:
                titles.append(discord_plain(found.group(1) or found.group(2)))
            more = _MORE.search(line)
            if more and line.startswith("…"):
                hidden += int(more.group(1))
    return titles, hidden


def discord_plain(text: str) -> str:
    """Undo the channel's escaping: markdown backslashes, defused mentions."""
    return _UNESCAPE.sub(r"\1", text).replace("@\u200b", "@").replace("<\u200b", "<")


def email_titles(message: Message, instance: str) -> tuple[list[str], int]:
    """Notice titles in an email: its subject, or the '- title' lines of a digest's text."""
    subject = str(message["Subject"]).removeprefix(f"[{instance}] ")
    if not _DIGEST.match(subject):
        return [subject], 0
    text = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode("utf-8", "replace")
            break
    titles = [ln[2:] for ln in text.splitlines() if ln.startswith("- ")]
    more = _MORE.search(text)
    return titles, int(more.group(1)) if more else 0
