"""Discord webhooks, through ``discord_webhook``: an embed per notice, coloured by severity.

Mentions ping only users who opted in: ``allowed_mentions`` lists exactly their ids and
parses nothing else, so ``@everyone`` in a part name is inert even before escaping.

Messages are posted with ``?wait=true``: Discord answers the message object, whose ``id`` is kept
on the outbox rows (``SendResult.external_id``). When a notice's condition ends, ``update`` edits
that message in place (``PATCH /webhooks/{id}/{token}/messages/{message_id}``): green, a
"Resolved" line with the time and the new level, the original facts kept; a digest is re-rendered
with each resolved line marked. The edit posts nothing new and pings nobody.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests
from discord_webhook import DiscordEmbed, DiscordWebhook

from ..escaping import discord_text, truncate
from ..notice import Notice, Severity
from ..redaction import scrub
from ..snoozing import links as snooze_links
from .base import (
    Channel,
    Destination,
    Outcome,
    RateLimit,
    SendResult,
    SentMessage,
    category_label,
    compact_facts,
    compact_line,
    digest_headline,
)

# Embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_EMBEDS = 10
MAX_MESSAGE_CHARS = 6000

# Lines of a notice (e.g. a build order's short parts) shown under it in a digest.
DIGEST_SUBLINES = 10

COLOURS = {Severity.INFO: 0x3498DB, Severity.WARNING: 0xF1C40F, Severity.CRITICAL: 0xE74C3C}
RESOLVED_COLOUR = 0x2ECC71  # green: the condition a message announced has ended


class DiscordChannel(Channel):
    """One webhook = one Discord channel."""

    kind = "discord"
    # 5 requests per 2 s per webhook and 30 per minute per channel: a bucket of 5 refilled at
    # 0.4/s never exceeds either (5 + 24 = 29 in any minute).
    rate_limit = RateLimit(burst=5, per_second=0.4)

    def render(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The JSON body Discord receives (via DiscordWebhook.json)."""
        return self._webhook(destination, notices, mentions).json

    def _webhook(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str]
    ) -> DiscordWebhook:
        webhook = DiscordWebhook(
            url=destination.address,
            content=" ".join(f"<@{m}>" for m in mentions) or None,
            allowed_mentions={"parse": [], "users": list(mentions)},
            timeout=self.timeout,
            rate_limit_retry=False,
            wait=True,
        )
        embeds = [self._embed(notices[0])] if len(notices) == 1 else self._digest(notices)[0]
        for embed in embeds:
            webhook.add_embed(embed)
        return webhook

    def _embed(
        self, notice: Notice, resolution: Notice | None = None, at: datetime | None = None
    ) -> DiscordEmbed:
        description = discord_text(notice.summary)
        if resolution is not None:
            struck = f"~~{description}~~" if description else ""
            description = f"**✅ {resolved_text(resolution, at)}**\n{struck}".strip()
        embed = DiscordEmbed(
            title=truncate(discord_text(notice.title), MAX_TITLE),
            description=truncate(description, MAX_DESCRIPTION),
            color=RESOLVED_COLOUR if resolution is not None else COLOURS[notice.severity],
        )
        if notice.link:
            embed.set_url(notice.link)
        budget = MAX_MESSAGE_CHARS - 400 - len(embed.title or "") - len(embed.description or "")
        fields = [(f.label, f.value, True) for f in notice.facts]
        fields += [(line.title, compact_facts(line) or "-", False) for line in notice.lines]
        room = MAX_FIELDS
        snooze = " · ".join(f"[{t}]({u})" for t, u in snooze_links(notice, self.context.site_url))
        if snooze:  # its room is kept before the facts are fitted
            budget -= len(snooze) + 10
            room -= 1
        for index, (name, value, inline) in enumerate(fields):
            name = truncate(discord_text(name), MAX_FIELD_NAME)
            value = truncate(discord_text(value), MAX_FIELD_VALUE)
            remaining = len(fields) - index
            if (room == 1 and remaining > 1) or budget - len(name) - len(value) < 60:
                embed.add_embed_field(name="…", value=f"and {remaining} more", inline=False)
                break
            embed.add_embed_field(name=name, value=value, inline=inline)
            budget -= len(name) + len(value)
            room -= 1
        if snooze:
            embed.add_embed_field(name="Snooze", value=snooze, inline=False)
        embed.set_footer(
            text=truncate(
                f"{self.context.instance_name} · {category_label(notice.category)}", MAX_FOOTER
            )
        )
        return embed

    def capacity(self, notices: Sequence[Notice]) -> int:
        """How many notices fit one message (4096 per description, 6000 per message)."""
        return max(1, self._digest(notices)[1])

    def _digest(
        self,
        notices: Sequence[Notice],
        resolved: Mapping[str, Notice] | None = None,
        resolved_at: Mapping[str, datetime] | None = None,
    ) -> tuple[list[DiscordEmbed], int]:
        """Each notice a line '• [title](link)', in as many embeds as the 6000 characters allow.

        ``resolved`` (firing uid -> its resolution): those lines are struck through and marked
        '✅ Resolved …'; the embed turns green once every line is resolved.
        """
        resolved = resolved or {}
        resolved_at = resolved_at or {}
        firing = [n for n in notices if n.uid not in resolved]
        worst = max((n.severity for n in firing or notices), key=list(Severity).index)
        colour = COLOURS[worst] if firing else RESOLVED_COLOUR
        headline = digest_headline(notices)
        done = len(notices) - len(firing)
        if resolved and done:
            headline += " · all resolved" if not firing else f" · {done} resolved"
        headline = truncate(discord_text(headline), MAX_TITLE)
        footer = truncate(self.context.instance_name, MAX_FOOTER)
        budget = MAX_MESSAGE_CHARS - len(headline) - len(footer) - 200
        descriptions: list[list[str]] = [[]]
        size = 0
        shown = 0
        for notice in notices:
            title = discord_text(truncate(notice.title, 120))
            line = f"[{title}]({notice.link})" if notice.link else title
            resolution = resolved.get(notice.uid)
            if resolution is not None:
                when = resolved_at.get(notice.uid)
                line = f"~~{line}~~ — ✅ {resolved_text(resolution, when)}"
            line = f"• {line}"
            for item in notice.lines[:DIGEST_SUBLINES]:
                line += f"\n  ◦ {discord_text(truncate(compact_line(item), 120))}"
            if len(notice.lines) > DIGEST_SUBLINES:
                line += f"\n  ◦ … and {len(notice.lines) - DIGEST_SUBLINES} more lines"
            if len(line) + 1 > budget:
                break
            if size + len(line) + 1 > MAX_DESCRIPTION:
                if len(descriptions) == MAX_EMBEDS:
                    break
                descriptions.append([])
                size = 0
            descriptions[-1].append(line)
            size += len(line) + 1
            budget -= len(line) + 1
            shown += 1
        if shown < len(notices):
            more = f"… and {len(notices) - shown} more"
            url = self.context.notifications_url
            descriptions[-1].append(f"{more}: [see all in InvenTree]({url})" if url else more)
        embeds = []
        for index, lines in enumerate(descriptions):
            embed = DiscordEmbed(description="\n".join(lines), color=colour)
            if index == 0:
                embed.set_title(headline)
            if index == len(descriptions) - 1:
                embed.set_footer(text=footer)
            embeds.append(embed)
        return embeds, shown

    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """Post through DiscordWebhook (its sleeping rate-limit retry off: the outbox reschedules)."""
        webhook = self._webhook(destination, notices, mentions)
        try:
            response = webhook.api_post_request()
        except requests.RequestException as exc:
            return SendResult.retry(scrub(f"{type(exc).__name__}: {exc}", destination.address))
        return classify_discord_response(response.status_code, response.text, response.headers)

    # -- a notice's life: edit the message in place -------------------------------------------

    edits = True

    def update(
        self, destination: Destination, original: SentMessage, notices: Sequence[Notice]
    ) -> SendResult:
        """Edit ``original`` to show which of its notices have ended (PATCH, nothing new posted).

        ``notices``: the resolutions this update is for; ``original.resolved`` may name more
        (a digest whose other parts recovered earlier): every resolved line is marked.
        """
        if not original.external_id:
            return SendResult.permanent("no Discord message id to edit")
        webhook = self._edit_webhook(destination, original, notices)
        try:
            response = webhook.edit()
        except requests.RequestException as exc:
            return SendResult.retry(scrub(f"{type(exc).__name__}: {exc}", destination.address))
        result = classify_discord_response(response.status_code, response.text, response.headers)
        if result.outcome == Outcome.SENT:
            return SendResult.sent("edited", result.status, original.external_id)
        return result

    # A webhook cannot start a thread or quote a message (Execute Webhook has no
    # message_reference): a reply is a new post in the same channel (or thread, if the webhook
    # URL names one) that says which message it follows up, with the original's title and time.
    threads = True

    def reply(
        self,
        destination: Destination,
        original: SentMessage,
        notices: Sequence[Notice],
        mentions: Sequence[str] = (),
    ) -> SendResult:
        """Post ``notices`` (a reminder) as a follow-up naming the message it follows."""
        webhook = self._webhook(destination, notices, mentions)
        titles = [n.title for n in original.notices[:1]]
        more = len(original.notices) - 1
        about = discord_text(titles[0]) if titles else "an earlier message"
        if more > 0:
            about += f" (and {more} more)"
        prefix = f"↪ Follows up: **{truncate(about, 200)}**"
        webhook.content = f"{prefix}\n{webhook.content}" if webhook.content else prefix
        try:
            response = webhook.api_post_request()
        except requests.RequestException as exc:
            return SendResult.retry(scrub(f"{type(exc).__name__}: {exc}", destination.address))
        return classify_discord_response(response.status_code, response.text, response.headers)

    def render_update(
        self, destination: Destination, original: SentMessage, notices: Sequence[Notice] = ()
    ) -> dict[str, Any]:
        """The JSON body of the edit (what the message will show)."""
        return self._edit_webhook(destination, original, notices).json

    def _edit_webhook(
        self, destination: Destination, original: SentMessage, notices: Sequence[Notice]
    ) -> DiscordWebhook:
        resolved = dict(original.resolved)
        by_episode = {n.episode: n for n in notices if n.episode}
        for firing in original.notices:
            if firing.uid not in resolved and firing.episode in by_episode:
                resolved[firing.uid] = by_episode[firing.episode]
        at = original.resolved_at
        # The message's URL without query; a thread the webhook posts into stays its target.
        parts = urlsplit(destination.address)
        thread = parse_qs(parts.query).get("thread_id", [None])[0]
        webhook = DiscordWebhook(
            url=urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")),
            thread_id=thread,
            allowed_mentions={"parse": []},
            timeout=self.timeout,
            rate_limit_retry=False,
            wait=False,
        )
        webhook.id = original.external_id
        if len(original.notices) == 1:
            firing = original.notices[0]
            embeds = [self._embed(firing, resolved.get(firing.uid), at.get(firing.uid))]
        else:
            embeds = self._digest(original.notices, resolved, at)[0]
        for embed in embeds:
            webhook.add_embed(embed)
        return webhook


def resolved_text(resolution: Notice, at: datetime | None = None) -> str:
    """'Resolved <time> — available now 15 pcs' from the resolution notice's facts.

    The time is Discord's timestamp markup (each reader sees it in their own time zone); without
    an 'Available' fact the resolution's summary says what changed.
    """
    text = "Resolved"
    if at is not None:
        text += f" <t:{int(at.timestamp())}:f>"
    available = next((f.value for f in resolution.facts if f.label == "Available"), "")
    if available:
        return f"{text} — available now {discord_text(available)}"
    if resolution.summary:
        return f"{text} — {discord_text(truncate(resolution.summary, 200))}"
    return text


def classify_discord_response(status: int, body: str, headers: Any) -> SendResult:
    """Turn a Discord webhook answer into sent / retry-after / permanent.

    A 200 (``?wait=true``) carries the message object: its ``id`` becomes ``external_id``.
    """
    try:
        data = json.loads(body or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status in (200, 204):
        return SendResult.sent("ok", status=status, external_id=str(data.get("id") or ""))
    message = str(data.get("message", body or ""))[:200]
    if status == 429:
        retry_after = data.get("retry_after")
        if retry_after is None:
            retry_after = (headers or {}).get("Retry-After")
        try:
            seconds = max(0.0, float(retry_after)) if retry_after is not None else None
        except (TypeError, ValueError):
            seconds = None
        scope = "global" if data.get("global") else "webhook"
        return SendResult.retry(
            f"rate limited (429, {scope}), retry_after {seconds}s", seconds, status
        )
    if status >= 500:
        return SendResult.retry(f"Discord answered {status}: {message}", status=status)
    if status in (400, 401, 403, 404):
        code = data.get("code")
        detail = f"Discord answered {status}: {message}" + (f" (code {code})" if code else "")
        return SendResult.permanent(detail, status=status)
    return SendResult.retry(f"Discord answered {status}: {message}", status=status)
