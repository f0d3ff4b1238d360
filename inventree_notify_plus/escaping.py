"""Text from the database is data, never markup.

Part names, descriptions and references are written by users; a part named
``@everyone <!channel> **x**`` must render literally and ping nobody.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"

# Slack: &, < and > are its control characters in mrkdwn and in the message `text`; they become
# entities (https://docs.slack.dev/messaging/formatting-message-text#escaping), so database text
# can never open a <link|...>, a <@mention> or a <!channel>.
_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# *bold* _italic_ ~strike~ `code`: Slack documents no escape for these (a backslash shows as a
# backslash). Each one gets a zero-width space (U+200B) on both sides: a marker only formats when
# it opens after a word boundary and before a non-space, and closes after a non-space and before
# a boundary. With an invisible character on both sides no marker meets that rule, whether Slack
# counts U+200B as part of a word or as a space; one side only is not enough, because U+200B as
# a boundary is the known trick to *start* formatting inside a word. The reader sees the name
# unchanged (a look-alike character would change what people copy and search for).
# ``devtools.received`` removes the spaces again when it reads back what arrived.
SLACK_MARKERS = "*_~`"

# Discord markdown: every character that starts formatting, a link, a heading or a quote.
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")
_DISCORD_MENTION = re.compile(r"@(?=(everyone|here|[!&]?\d))", re.IGNORECASE)


def slack_text(text: object) -> str:
    """Make database text inert in Slack mrkdwn and the message `text`.

    No links, no mentions, no formatting. Used with ``"verbatim": true`` on mrkdwn objects,
    which also stops Slack from turning ``#general``, ``@here`` or a bare URL into links.
    """
    out = []
    for ch in str(text):
        if ch in _SLACK_ENTITIES:
            out.append(_SLACK_ENTITIES[ch])
        elif ch in SLACK_MARKERS:
            out.append(f"{ZWSP}{ch}{ZWSP}")
        else:
            out.append(ch)
    return "".join(out)


def discord_text(text: object) -> str:
    """Escape Discord markdown and defuse @everyone / @here / <@id> mentions.

    Mentions are also disabled by ``allowed_mentions``; escaping keeps the *display* literal.
    """
    escaped = _DISCORD_MARKDOWN.sub(r"\\\1", str(text))
    escaped = escaped.replace("<", "<" + ZWSP)
    return _DISCORD_MENTION.sub("@" + ZWSP, escaped)


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Cut ``text`` to ``limit`` characters, saying so with ``marker``."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker
