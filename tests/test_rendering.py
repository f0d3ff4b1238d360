"""What a reader sees in Slack, Discord and email, and that database text stays data."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from inventree_notify_plus.channels import DiscordChannel, EmailChannel, RenderContext, SlackChannel
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.received import slack_titles
from inventree_notify_plus.devtools.samples import stale_stock_notice
from inventree_notify_plus.escaping import discord_text, slack_text
from inventree_notify_plus.notice import Notice

from .conftest import EVIL, low_stock, shortfall

CTX = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
SLACK = Destination("slack", "slack:default", "http://x", "slack")
DISCORD = Destination("discord", "discord:default", "http://x", "discord")
ALICE = Destination("email", "email:user:1", "alice@example.com", "alice", recipient_name="Alice")


def _mrkdwn_texts(payload):
    """Every string Slack would interpret as mrkdwn (text fallback and mrkdwn objects)."""
    found = [payload["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload["blocks"])
    return found


def test_slack_single_notice_has_header_fields_and_button():
    payload = SlackChannel(CTX).render(SLACK, [low_stock()])
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Low stock: M3 screw", "emoji": False},
    }
    fields = [f["text"] for b in blocks if "fields" in b for f in b["fields"]]
    assert (
        "Available: 3 pcs" in fields and "Shortfall: 7 pcs" in fields and "IPN: SCR-0001" in fields
    )
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"] == "http://inventree.local/part/1/"


def test_slack_escapes_part_names_and_pings_nobody():
    payload = SlackChannel(CTX).render(SLACK, [low_stock(EVIL)])
    for text in _mrkdwn_texts(payload):
        assert "<!channel>" not in text and "<!everyone>" not in text
    assert "&lt;!channel&gt;" in payload["text"]
    # the name is shown literally, as plain text
    assert blocks_text(payload).count(EVIL) >= 1


def blocks_text(payload):
    return json.dumps(payload["blocks"], ensure_ascii=False).replace('\\"', '"')


def test_slack_mentions_only_opted_in_members():
    payload = SlackChannel(CTX).render(SLACK, [low_stock(EVIL)], mentions=["U0123ABCD"])
    mentions = [t for t in _mrkdwn_texts(payload) if "<@" in t]
    assert mentions and all("<@U0123ABCD>" in t for t in mentions)
    assert not any("<!" in t for t in _mrkdwn_texts(payload))


def test_slack_digest_lists_each_notice_with_its_link_within_limits():
    notices = [low_stock(f"Part {i}", i) for i in range(1000)]
    payload = SlackChannel(CTX).render(SLACK, notices)
    assert len(payload["blocks"]) <= 50
    assert payload["blocks"][0]["text"]["text"] == "1000 notifications: Low stock (1000)"
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in payload["blocks"])
    assert len(json.dumps(payload)) < 40000
    titles, more = slack_titles(payload)
    assert titles[0] == "Low stock: Part 0" and len(titles) + more == 1000 and len(titles) > 200
    assert "<http://inventree.local/part/0/|Low stock: Part 0>" in blocks_text(payload)
    assert "http://inventree.local/web/notifications/" in blocks_text(payload)


def test_slack_digest_escapes_link_texts():
    payload = SlackChannel(CTX).render(SLACK, [low_stock(EVIL, 1), low_stock("a|b>c", 2)])
    for text in _mrkdwn_texts(payload):
        assert "<!channel>" not in text
    assert slack_titles(payload)[0] == [f"Low stock: {EVIL}", "Low stock: a|b>c"]


def test_slack_shortfall_lists_each_short_line():
    text = blocks_text(SlackChannel(CTX).render(SLACK, [shortfall()]))
    assert "Resistor 10k: required 50, available 12" in text


def test_discord_embed_has_title_link_fields_and_colour():
    body = DiscordChannel(CTX).render(DISCORD, [low_stock()])
    embed = body["embeds"][0]
    assert embed["title"] == "Low stock: M3 screw"
    assert embed["url"] == "http://inventree.local/part/1/"
    assert embed["color"] == 0xF1C40F
    assert {"name": "Shortfall", "value": "7 pcs", "inline": True} in embed["fields"]
    assert body["allowed_mentions"] == {"parse": [], "users": []}
    assert "content" not in body


def test_discord_escapes_markdown_and_mentions():
    body = DiscordChannel(CTX).render(DISCORD, [low_stock(EVIL)])
    title = body["embeds"][0]["title"]
    assert "@everyone" not in title and "\\*\\*x\\*\\*" in title
    assert body["allowed_mentions"]["parse"] == []


def test_discord_mentions_only_opted_in_users():
    body = DiscordChannel(CTX).render(DISCORD, [low_stock(EVIL)], mentions=["123456789012345678"])
    assert body["content"] == "<@123456789012345678>"
    assert body["allowed_mentions"] == {"parse": [], "users": ["123456789012345678"]}


def test_discord_digest_respects_message_limits():
    notices = [low_stock(f"Part {i} " + "x" * 100, i) for i in range(500)]
    body = DiscordChannel(CTX).render(DISCORD, notices)
    assert len(body["embeds"]) <= 10
    total = sum(len(e.get("title") or "") + len(e.get("description") or "") for e in body["embeds"])
    assert total <= 6000 and len(body["embeds"][0]["description"]) <= 4096
    assert "more" in body["embeds"][-1]["description"]
    assert body["embeds"][0]["title"] == "500 notifications: Low stock (500)"
    channel = DiscordChannel(CTX)
    assert 30 <= channel.capacity(notices) < 500


def test_discord_shortfall_fields_stay_under_25():
    notice = shortfall()
    many = notice.__class__(**{**notice.__dict__, "lines": notice.lines * 30})
    embed = DiscordChannel(CTX).render(DISCORD, [many])["embeds"][0]
    assert len(embed["fields"]) <= 25
    assert embed["fields"][-1]["value"].startswith("and ")


def test_email_subject_text_and_escaped_html():
    message = EmailChannel(CTX).render(ALICE, [low_stock("<b>Bolt</b> & nut")])
    assert message["subject"] == "[Workshop] Low stock: <b>Bolt</b> & nut"
    assert "Hello Alice" in message["text"] and "Shortfall: 7 pcs" in message["text"]
    assert "&lt;b&gt;Bolt&lt;/b&gt; &amp; nut" in message["html"]
    assert "<b>Bolt</b>" not in message["html"]


def test_email_digest_lists_everything():
    message = EmailChannel(CTX).render(ALICE, [low_stock("A", 1), shortfall()])
    assert (
        message["subject"] == "[Workshop] 2 notifications: Low stock (1), Build order shortfall (1)"
    )
    assert "Low stock: A" in message["text"] and "Resistor 10k" in message["text"]


def test_escape_helpers():
    assert slack_text("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert slack_text("*b*") == "\u200b*\u200bb\u200b*\u200b"
    assert discord_text("@here *hi*") == "@\u200bhere \\*hi\\*"


def test_digests_keep_the_short_lines_of_a_build_order():
    notices = [low_stock("A", 1), shortfall()]
    slack = blocks_text(SlackChannel(CTX).render(SLACK, notices))
    assert "◦ Resistor 10k: required 50, available 12" in slack
    discord = DiscordChannel(CTX).render(DISCORD, notices)["embeds"][0]["description"]
    assert "◦ Resistor 10k: required 50, available 12" in discord
    assert "@everyone" not in discord  # the hostile line title stays defused


def test_received_parsers_read_back_hostile_titles():
    from inventree_notify_plus.devtools.received import discord_titles

    for notices in ([low_stock(EVIL)], [low_stock(EVIL), low_stock("B", 2)]):
        body = DiscordChannel(CTX).render(DISCORD, notices)
        assert discord_titles(body)[0][0] == f"Low stock: {EVIL}"


# A part name trying every kind of Slack markup: formatting, a channel link, two mentions.
MARKUP = "*bold* _it_ ~x~ `code` #general @here <!channel>"
# What Slack must receive for it in mrkdwn: &, <, > as entities, each formatting marker between
# two zero-width spaces (escaping.py says why); #general and @here stay text under verbatim.
MARKUP_SLACK = (
    "\u200b*\u200bbold\u200b*\u200b \u200b_\u200bit\u200b_\u200b \u200b~\u200bx\u200b~\u200b "
    "\u200b`\u200bcode\u200b`\u200b #general @here &lt;!channel&gt;"
)


def _plain(text):
    return {"type": "plain_text", "text": text, "emoji": False}


def test_slack_single_notice_payload_for_a_markup_name_is_exact():
    payload = SlackChannel(CTX).render(SLACK, [low_stock(MARKUP, 1)])
    assert payload == {
        "text": f":warning: Low stock: {MARKUP_SLACK}",
        "blocks": [
            {"type": "header", "text": _plain(f"Low stock: {MARKUP}")},
            {
                "type": "section",
                "text": _plain("Available stock 3 pcs is below the minimum of 10 pcs (1)."),
            },
            {
                "type": "section",
                "fields": [
                    _plain(f"Part: {MARKUP}"),
                    _plain("IPN: SCR-0001"),
                    _plain("Available: 3 pcs"),
                    _plain("Minimum: 10 pcs"),
                    _plain("Shortfall: 7 pcs"),
                    _plain("Category: Mechanical / Fasteners"),
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": _plain("Open in InvenTree"),
                        "url": "http://inventree.local/part/1/",
                    }
                ],
            },
            {"type": "context", "elements": [_plain("Workshop · Low stock")]},
        ],
    }


def test_slack_digest_payload_for_a_markup_name_is_exact():
    payload = SlackChannel(CTX).render(SLACK, [low_stock(MARKUP, 1), low_stock("B", 2)])
    assert payload == {
        "text": "2 notifications: Low stock (2)",
        "blocks": [
            {"type": "header", "text": _plain("2 notifications: Low stock (2)")},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        f"• <http://inventree.local/part/1/|Low stock: {MARKUP_SLACK}>"
                        " - Available stock 3 pcs is below the minimum of 10 pcs (1).\n"
                        "• <http://inventree.local/part/2/|Low stock: B>"
                        " - Available stock 3 pcs is below the minimum of 10 pcs (2)."
                    ),
                    "verbatim": True,
                },
            },
            {"type": "context", "elements": [_plain("Workshop")]},
        ],
    }
    # and the reader used by tests and scripts gets the name back as it was typed
    assert slack_titles(payload) == ([f"Low stock: {MARKUP}", "Low stock: B"], 0)


def test_slack_mention_tokens_are_verbatim_mrkdwn():
    payload = SlackChannel(CTX).render(SLACK, [low_stock(MARKUP, 1)], mentions=["U0123ABCD"])
    assert payload["blocks"][1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "<@U0123ABCD>", "verbatim": True}],
    }
    assert payload["text"] == f":warning: Low stock: {MARKUP_SLACK} <@U0123ABCD>"


def test_discord_stays_inert_for_a_markup_name():
    # Discord has backslash escapes; mentions are defused and allowed_mentions parses nothing.
    escaped = "\\*bold\\* \\_it\\_ \\~x\\~ \\`code\\` \\#general @\u200bhere <\u200b!channel\\>"
    single = DiscordChannel(CTX).render(DISCORD, [low_stock(MARKUP, 1)])
    assert single["allowed_mentions"] == {"parse": [], "users": []}
    assert "content" not in single
    embed = single["embeds"][0]
    assert embed["title"] == f"Low stock: {escaped}"
    assert embed["fields"][0] == {"name": "Part", "value": escaped, "inline": True}
    digest = DiscordChannel(CTX).render(DISCORD, [low_stock(MARKUP, 1), low_stock("B", 2)])
    assert digest["allowed_mentions"] == {"parse": [], "users": []}
    assert digest["embeds"][0]["description"] == (
        f"• [Low stock: {escaped}](http://inventree.local/part/1/)\n"
        "• [Low stock: B](http://inventree.local/part/2/)"
    )


# -- tables: stale stock (issue 15: never worse than InvenTree's own email) ------------------

STALE_COLUMNS = [
    "Part",
    "Location",
    "Quantity",
    "Batch",
    "Serial Number",
    "Expiry Date",
    "Days Until Expiry",
]


class _Tables(HTMLParser):
    """Every <table> of an HTML mail as rows of cell texts, with the links of each row."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[list[tuple[list[str], list[str]]]] = []
        self._cell: list[str] | None = None
        self._row: tuple[list[str], list[str]] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = ([], [])
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self._row is not None:
            self._row[1].append(dict(attrs)["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row[0].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _stale_table(html: str) -> list[tuple[list[str], list[str]]]:
    tables = [t for t in _Tables(html).tables if t and t[0][0] == STALE_COLUMNS]
    assert len(tables) == 1, "one stale-stock table with InvenTree's seven columns"
    return tables[0]


def _assert_stale_rows(notice: Notice, message: dict) -> None:
    """Every item's seven values, in order, in one HTML row and one plain-text row."""
    rows = _stale_table(message["html"])[1:]
    assert len(rows) == len(notice.lines)
    text_rows = [ln for ln in message["text"].splitlines() if ln.count(" | ") == 6]
    assert [c.strip() for c in text_rows[0].split(" | ")] == STALE_COLUMNS
    for line, (cells, links), text_row in zip(notice.lines, rows, text_rows[1:], strict=True):
        expected = [line.title, *(f.value for f in line.facts)]
        assert cells == expected
        assert links == [line.link]
        assert [c.strip() for c in text_row.split(" | ")] == expected
        assert f"\n    {line.link}\n" in message["text"]


def test_stale_stock_email_is_a_table_of_all_seven_columns():
    notice = stale_stock_notice("M3 screw", 3)
    message = EmailChannel(CTX).render(ALICE, [notice])
    _assert_stale_rows(notice, message)
    assert message["subject"] == "[Workshop] Stale stock: 3 items approaching expiry"
    assert "You have 3 stock items approaching their expiry dates" in message["text"]
    assert "Expired 2 days ago" in message["html"] and "SN-1" in message["html"]


def test_stale_stock_table_survives_a_digest():
    stale = stale_stock_notice("M3 screw", 2)
    message = EmailChannel(CTX).render(ALICE, [low_stock("A", 1), stale, shortfall()])
    assert message["subject"] == (
        "[Workshop] 3 notifications: Low stock (1), Stale stock (1), Build order shortfall (1)"
    )
    _assert_stale_rows(stale, message)
    # the build order's short lines are a table too, under InvenTree's headings
    tables = _Tables(message["html"]).tables
    assert [t[0][0] for t in tables if "Required" in t[0][0]] == [["Part", "Required", "Available"]]


def test_stale_stock_hostile_part_name_stays_data_everywhere():
    notice = stale_stock_notice(EVIL, 2)
    message = EmailChannel(CTX).render(ALICE, [notice])
    assert "&lt;!channel&gt;" in message["html"] and "<!channel>" not in message["html"]
    assert _stale_table(message["html"])[1][0][0] == EVIL  # shown literally
    assert EVIL in message["text"]
    single = SlackChannel(CTX).render(SLACK, [notice])
    for text in _mrkdwn_texts(single):
        assert "<!channel>" not in text
    assert f"{EVIL}: Location Store/Shelf 1" in blocks_text(single)  # plain_text: literal
    digest = SlackChannel(CTX).render(SLACK, [notice, low_stock("B", 2)])
    assert not any("<!channel>" in t for t in _mrkdwn_texts(digest))
    assert f"◦ {slack_text(EVIL)}: Location Store/Shelf 1" in blocks_text(digest)
    discord = DiscordChannel(CTX).render(DISCORD, [notice])["embeds"][0]
    assert discord["fields"][-2]["name"] == discord_text(EVIL)
    assert "@everyone" not in json.dumps(discord)


def test_slack_and_discord_show_each_stale_item_compactly():
    notice = stale_stock_notice("M3 screw", 2)
    slack = blocks_text(SlackChannel(CTX).render(SLACK, [notice]))
    assert (
        "Part 2: Location Store/Shelf 2, Quantity 10 pcs, Batch B-002, Expiry Date 2030-01-02, "
        "Days Until Expiry Expired 2 days ago"
    ) in slack
    assert "Serial Number -" not in slack  # an empty value is left out, not shown as '-'
    fields = DiscordChannel(CTX).render(DISCORD, [notice])["embeds"][0]["fields"]
    assert fields[-1] == {
        "name": "Part 2",
        "value": "Location Store/Shelf 2, Quantity 10 pcs, Batch B-002, Expiry Date 2030-01-02, "
        "Days Until Expiry Expired 2 days ago",
        "inline": False,
    }


def test_notices_stored_before_tables_still_render():
    stored = shortfall().to_dict()
    assert stored["line_heading"] == "Part"
    del stored["line_heading"]  # a notice queued by the previous version
    old = Notice.from_dict(stored)
    assert old.line_heading == "" and old.lines == shortfall().lines
    message = EmailChannel(CTX).render(ALICE, [old])
    assert ["Item", "Required", "Available"] in [t[0][0] for t in _Tables(message["html"]).tables]
    assert Notice.from_dict(stale_stock_notice().to_dict()) == stale_stock_notice()
