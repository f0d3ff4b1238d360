"""Render the README pictures from the channels' real output.

The payloads are exactly what Slack, Discord and the mail server receive (the channels'
``render``); this script lays them out the way the clients show them (an approximation of the
look, not of the content) and screenshots them with headless Chromium (Debian's ``chromium``).

    .venv/bin/python scripts/render_previews.py [docs/images]
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.channels import DiscordChannel, EmailChannel, RenderContext, SlackChannel
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.samples import HOSTILE, build_shortfall_notice, low_stock_notice
from inventree_notify_plus.devtools.standalone import setup_django

CTX = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
LOW = low_stock_notice(f"M3 x 8 screw {HOSTILE}", 3)
BUILD = build_shortfall_notice()
E = html.escape
SLACK_TOKEN = re.compile(r"<(@U[A-Z0-9]+|[^<>|]+\|[^<>]*)>")
MARKDOWN_ESCAPE = re.compile(r"\\(.)")


def slack_mrkdwn(text: str) -> str:
    """Show mrkdwn as Slack does: <url|text> as a link, <@U..> as a mention, entities decoded."""
    out, pos = [], 0
    for token in SLACK_TOKEN.finditer(text):
        out.append(E(html.unescape(text[pos : token.start()])))
        inner = token.group(1)
        if inner.startswith("@"):
            out.append("<span class=men>@alice</span>")
        else:
            out.append(f"<a>{E(html.unescape(inner.split('|', 1)[1]))}</a>")
        pos = token.end()
    out.append(E(html.unescape(text[pos:])))
    return "".join(out).replace("\n", "<br>")


def discord_markdown(text: str) -> str:
    """Show Discord markdown as Discord does: backslash escapes removed."""
    return E(MARKDOWN_ESCAPE.sub(r"\1", text))


def slack_html(payload: dict) -> str:
    parts = []
    for block in payload["blocks"]:
        kind = block["type"]
        if kind == "header":
            parts.append(f"<div class=h>{E(block['text']['text'])}</div>")
        elif kind == "section" and "fields" in block:
            cells = "".join(f"<div>{E(f['text'])}</div>" for f in block["fields"])
            parts.append(f"<div class=fields>{cells}</div>")
        elif kind == "section":
            raw = block["text"]
            text = slack_mrkdwn(raw["text"]) if raw["type"] == "mrkdwn" else E(raw["text"])
            button = ""
            if "accessory" in block:
                button = f"<span class=btn>{E(block['accessory']['text']['text'])}</span>"
            parts.append(f"<div class=sec><div>{text}</div>{button}</div>")
        elif kind == "actions":
            parts.append(
                "".join(f"<span class=btn>{E(e['text']['text'])}</span>" for e in block["elements"])
            )
        elif kind == "context":
            texts = [
                slack_mrkdwn(e["text"]) if e["type"] == "mrkdwn" else E(e["text"])
                for e in block["elements"]
            ]
            parts.append(f"<div class=ctx>{' '.join(texts)}</div>")
    return f"""<html><head><meta charset=utf-8><style>
body{{font-family:Lato,Helvetica,Arial,sans-serif;margin:0;padding:16px;background:#fff;color:#1d1c1d;font-size:15px}}
.msg{{display:flex;gap:10px}} .av{{width:36px;height:36px;border-radius:6px;background:#4a154b;color:#fff;
display:flex;align-items:center;justify-content:center;font-weight:bold}} .who{{font-weight:900}}
.app{{font-size:11px;background:#ddd;border-radius:3px;padding:1px 4px;margin-left:4px}}
.h{{font-size:18px;font-weight:900;margin:6px 0}} .fields{{display:grid;grid-template-columns:1fr 1fr;gap:6px 24px;margin:8px 0}}
.sec{{display:flex;justify-content:space-between;gap:12px;margin:6px 0}} .ctx{{color:#616061;font-size:12px;margin-top:6px}}
.men{{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}} a{{color:#1264a3}}
.btn{{border:1px solid #bbb;border-radius:4px;padding:4px 12px;font-weight:bold;font-size:13px;white-space:nowrap;display:inline-block;margin-top:4px}}
</style></head><body><div class=msg><div class=av>IT</div><div style="flex:1"><div><span class=who>InvenTree</span><span class=app>APP</span></div>
{"".join(parts)}</div></div></body></html>"""


def discord_html(payload: dict) -> str:
    embeds = []
    for embed in payload["embeds"]:
        colour = f"#{embed.get('color', 0):06x}"
        title = discord_markdown(embed.get("title") or "")
        if embed.get("url"):
            title = f"<a>{title}</a>"
        desc = re.sub(
            r"\[(.*?)\]\((.*?)\)", r"<a>\1</a>", discord_markdown(embed.get("description") or "")
        )
        desc = desc.replace("\n", "<br>")
        fields = "".join(
            f"<div class={'in' if f.get('inline') else 'full'}><b>{discord_markdown(f['name'])}</b><br>"
            f"{discord_markdown(f['value'])}</div>"
            for f in embed.get("fields", [])
        )
        footer = E((embed.get("footer") or {}).get("text", ""))
        embeds.append(
            f"<div class=embed style='border-left-color:{colour}'><div class=t>{title}</div><div class=d>{desc}</div>"
            f"<div class=grid>{fields}</div><div class=f>{footer}</div></div>"
        )
    return f"""<html><head><meta charset=utf-8><style>
body{{font-family:'gg sans','Noto Sans',Helvetica,Arial,sans-serif;margin:0;padding:16px;background:#313338;color:#dbdee1;font-size:15px}}
.who{{color:#fff;font-weight:600}} .bot{{font-size:10px;background:#5865f2;color:#fff;border-radius:3px;padding:1px 4px;margin-left:4px}}
.embed{{background:#2b2d31;border-left:4px solid;border-radius:4px;padding:10px 14px;margin-top:6px;max-width:620px}}
.t a{{color:#00a8fc;font-weight:600}} .d{{margin:6px 0}} .d a{{color:#00a8fc}} .grid{{display:flex;flex-wrap:wrap;gap:8px 0}}
.in{{width:33%}} .full{{width:100%}} .f{{font-size:12px;color:#b5bac1;margin-top:8px}}
</style></head><body><div><span class=who>InvenTree</span><span class=bot>APP</span></div>{"".join(embeds)}</body></html>"""


def email_html(message: dict) -> str:
    return f"""<html><head><meta charset=utf-8><style>
body{{margin:0;font-family:Helvetica,Arial,sans-serif;background:#f4f4f4}} .hd{{background:#fff;padding:10px 16px;border-bottom:1px solid #ddd;font-size:13px}}
.body{{background:#fff;margin:12px;padding:8px 16px}}</style></head><body>
<div class=hd><b>From:</b> InvenTree &lt;inventree@example.com&gt;<br><b>To:</b> Alice &lt;alice@example.com&gt;<br>
<b>Subject:</b> {E(message["subject"])}</div><div class=body>{message["html"]}</div></body></html>"""


def shoot(page: str, out: Path, height: int, tmp: Path) -> None:
    source = tmp / (out.stem + ".html")
    source.write_text(page, encoding="utf-8")
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}",
            "--hide-scrollbars",
            f"--window-size=760,{height}",
            f"--screenshot={out}",
            source.as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    print(f"wrote {out}")


def main() -> int:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        setup_django(str(tmp / "preview.sqlite3"), 25)
        slack_dest = Destination(
            "slack", "slack:default", "https://hooks.slack.com/services/x", "slack"
        )
        discord_dest = Destination(
            "discord", "discord:default", "https://discord.com/api/webhooks/1/x", "discord"
        )
        alice = Destination(
            "email", "email:user:1", "alice@example.com", "Alice", recipient_name="Alice"
        )
        slack, discord = SlackChannel(CTX), DiscordChannel(CTX)
        shoot(
            slack_html(slack.render(slack_dest, [LOW], ["U0ALICE01"])),
            target / "slack-low-stock.png",
            270,
            tmp,
        )
        shoot(
            slack_html(slack.render(slack_dest, [LOW, BUILD])),
            target / "slack-digest.png",
            230,
            tmp,
        )
        shoot(
            discord_html(discord.render(discord_dest, [LOW])),
            target / "discord-low-stock.png",
            235,
            tmp,
        )
        shoot(
            discord_html(discord.render(discord_dest, [BUILD])),
            target / "discord-build-shortfall.png",
            250,
            tmp,
        )
        shoot(
            email_html(EmailChannel(CTX).render(alice, [LOW])),
            target / "email-low-stock.png",
            425,
            tmp,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
