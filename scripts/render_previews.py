"""Render the README pictures: the plugin's exact payloads, drawn in a look-alike frame.

These are not screenshots of Slack, Discord or a mail client. The content is exact: the Slack
digest is the JSON body the Slack stand-in accepted during "notify-plus demo"; the
single-notice pictures are the payloads SlackChannel.render, DiscordChannel.render and
EmailChannel.render return (what Slack, Discord and the mail server receive). The frame is
an imitation: this script lays the payloads out roughly the way those clients show them (fonts,
colours and spacing are approximations; every piece of payload text is HTML-escaped, so hostile
part names appear literally) and photographs the pages with headless Chromium.

Needs Chromium on PATH as chromium (Debian: apt-get install -y chromium) and the demo extra
(pip install -e '.[demo]').

    .venv/bin/python scripts/render_previews.py [OUT]     # OUT defaults to docs/images
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.channels import DiscordChannel, EmailChannel, RenderContext, SlackChannel
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.arguments import OneLineParser, run_main, writable_dir
from inventree_notify_plus.devtools.samples import HOSTILE, build_shortfall_notice, low_stock_notice
from inventree_notify_plus.devtools.standalone import setup_django

ROOT = Path(__file__).resolve().parent.parent
CTX = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
# The same notices as ``notify-plus demo`` sends (devtools/cli.py).
LOW = low_stock_notice(f"M3 x 8 screw {HOSTILE}", 12)
BUILD = build_shortfall_notice()
# Slack member ids of the demo's subscribers, to show <@U...> the way Slack does.
MEMBERS = {"U0ALICE01": "Alice"}
WIDTH = 820
E = html.escape
SLACK_TOKEN = re.compile(r"<([^<>]*)>")
DISCORD_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\(([^)\s]+)\)")
DISCORD_ESCAPE = re.compile(r"\\(.)")


# --- Slack -----------------------------------------------------------------------------------


def slack_token(inner: str) -> str:
    """One <...> token of mrkdwn: a link, a user mention or a special mention (which pings)."""
    if inner.startswith("@"):
        return f"<span class=mention>@{E(MEMBERS.get(inner[1:], inner[1:]))}</span>"
    if inner.startswith("!"):
        return f"<span class=mention>@{E(inner[1:].split('|', 1)[0])}</span>"
    url, _, label = inner.partition("|")
    return f"<a>{E(html.unescape(label or url))}</a>"


def slack_mrkdwn(text: str) -> str:
    """Show mrkdwn as Slack does: tokens as links/mentions, &lt; &gt; &amp; decoded."""
    out, pos = [], 0
    for token in SLACK_TOKEN.finditer(text):
        out.append(E(html.unescape(text[pos : token.start()])))
        out.append(slack_token(token.group(1)))
        pos = token.end()
    out.append(E(html.unescape(text[pos:])))
    return "".join(out)


def slack_text(obj: dict[str, Any]) -> str:
    """A Block Kit text object: plain_text literally, mrkdwn interpreted."""
    return slack_mrkdwn(obj["text"]) if obj["type"] == "mrkdwn" else E(obj["text"])


def slack_button(element: dict[str, Any]) -> str:
    return f"<span class=btn>{E(element['text']['text'])}</span>"


def slack_block(block: dict[str, Any]) -> str:
    kind = block["type"]
    if kind == "header":
        return f"<div class=header>{E(block['text']['text'])}</div>"
    if kind == "section":
        parts = []
        if "text" in block:
            parts.append(f"<div class=text>{slack_text(block['text'])}</div>")
        if "fields" in block:
            cells = "".join(f"<div>{slack_text(f)}</div>" for f in block["fields"])
            parts.append(f"<div class=fields>{cells}</div>")
        accessory = block.get("accessory")
        button = slack_button(accessory) if accessory and accessory["type"] == "button" else ""
        return f"<div class=section><div class=grow>{''.join(parts)}</div>{button}</div>"
    if kind == "actions":
        buttons = "".join(slack_button(e) for e in block["elements"] if e["type"] == "button")
        return f"<div class=actions>{buttons}</div>"
    if kind == "context":
        texts = " ".join(slack_text(e) for e in block["elements"] if "text" in e)
        return f"<div class=context>{texts}</div>"
    if kind == "divider":
        return "<hr>"
    return f"<div class=context>[{E(kind)} block]</div>"


SLACK_CSS = """
body{font-family:Lato,'Liberation Sans',Helvetica,Arial,sans-serif;margin:0;padding:18px 20px;
background:#fff;color:#1d1c1d;font-size:15px;line-height:1.45}
.msg{display:flex;gap:10px}.avatar{flex:none;width:36px;height:36px;border-radius:6px;
background:#4a154b;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:bold}
.grow{flex:1;min-width:0}.who{font-weight:900}.app{font-size:10px;font-weight:bold;color:#616061;
background:#e8e8e8;border-radius:3px;padding:1px 4px;margin-left:5px;vertical-align:2px}
.time{color:#616061;font-size:12px;margin-left:6px}
.header{font-size:18px;font-weight:900;margin:6px 0 4px}
.section{display:flex;justify-content:space-between;align-items:flex-start;gap:16px;margin:6px 0}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:6px 24px;margin:8px 0 2px;overflow-wrap:anywhere}
.actions{margin:10px 0 6px}.context{color:#616061;font-size:12px;margin-top:6px}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}a{color:#1264a3}
.btn{border:1px solid #c8c8c8;border-radius:4px;padding:4px 12px;font-weight:bold;font-size:13px;
white-space:nowrap;display:inline-block;margin-right:8px;background:#fff}
hr{border:0;border-top:1px solid #ddd}
"""


def slack_html(payload: dict[str, Any]) -> str:
    """A page showing one Slack webhook body the way Slack shows the message."""
    blocks = "".join(slack_block(b) for b in payload["blocks"])
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><style>{SLACK_CSS}</style></head><body>"
        "<div class=msg><div class=avatar>IT</div><div class=grow><div><span class=who>InvenTree"
        f"</span><span class=app>APP</span><span class=time>10:42 AM</span></div>{blocks}"
        "</div></div></body></html>"
    )


# --- Discord ---------------------------------------------------------------------------------


def discord_plain(text: str) -> str:
    """Discord markdown without links: backslash escapes removed, the rest literal."""
    return E(DISCORD_ESCAPE.sub(r"\1", text))


def discord_markdown(text: str) -> str:
    """Discord markdown: [label](url) as a link, backslash escapes removed."""
    out, pos = [], 0
    for link in DISCORD_LINK.finditer(text):
        out.append(discord_plain(text[pos : link.start()]))
        out.append(f"<a>{discord_plain(link.group(1))}</a>")
        pos = link.end()
    out.append(discord_plain(text[pos:]))
    return "".join(out)


def discord_embed(embed: dict[str, Any]) -> str:
    colour = f"#{embed.get('color') or 0x1E1F22:06x}"
    title = discord_plain(embed.get("title") or "")
    if title and embed.get("url"):
        title = f"<a>{title}</a>"
    fields = "".join(
        f"<div class={'inline' if f.get('inline') else 'wide'}><div class=name>"
        f"{discord_plain(f['name'])}</div><div>{discord_markdown(f['value'])}</div></div>"
        for f in embed.get("fields") or []
    )
    footer = (embed.get("footer") or {}).get("text") or ""
    return (
        f"<div class=embed style='border-left-color:{colour}'>"
        f"<div class=title>{title}</div>"
        f"<div class=desc>{discord_markdown(embed.get('description') or '')}</div>"
        f"{f'<div class=fields>{fields}</div>' if fields else ''}"
        f"{f'<div class=footer>{E(footer)}</div>' if footer else ''}</div>"
    )


DISCORD_CSS = """
body{font-family:'gg sans','Noto Sans','Liberation Sans',Helvetica,Arial,sans-serif;margin:0;
padding:18px 20px;background:#313338;color:#dbdee1;font-size:15px;line-height:1.4}
.msg{display:flex;gap:14px}.avatar{flex:none;width:40px;height:40px;border-radius:50%;
background:#5865f2;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:bold}
.grow{flex:1;min-width:0}.who{color:#f2f3f5;font-weight:600}.bot{font-size:10px;font-weight:600;
background:#5865f2;color:#fff;border-radius:3px;padding:1px 5px;margin-left:5px;vertical-align:2px}
.time{color:#949ba4;font-size:12px;margin-left:6px}.content{margin-top:2px}
.embed{background:#2b2d31;border-left:4px solid;border-radius:4px;padding:10px 16px 14px 12px;
margin-top:6px;max-width:600px}
.title{font-weight:600;margin-top:4px}.title a,.desc a{color:#00a8fc}
.desc{margin-top:6px;font-size:14px;white-space:pre-wrap;overflow-wrap:anywhere}
.fields{display:grid;grid-template-columns:repeat(3,1fr);gap:8px 12px;margin-top:10px;font-size:14px;
overflow-wrap:anywhere}.wide{grid-column:1/-1}.name{font-weight:600;color:#f2f3f5;margin-bottom:2px}
.footer{font-size:12px;color:#b5bac1;margin-top:10px}
"""


def discord_html(payload: dict[str, Any]) -> str:
    """A page showing one Discord webhook body the way Discord shows the message."""
    content = f"<div class=content>{discord_markdown(payload.get('content') or '')}</div>"
    embeds = "".join(discord_embed(e) for e in payload.get("embeds") or [])
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><style>{DISCORD_CSS}</style></head><body>"
        "<div class=msg><div class=avatar>IT</div><div class=grow><div><span class=who>InvenTree"
        f"</span><span class=bot>APP</span><span class=time>Today at 10:42</span></div>{content}"
        f"{embeds}</div></div></body></html>"
    )


# --- Email -----------------------------------------------------------------------------------

EMAIL_CSS = """
body{margin:0;font-family:'Liberation Sans',Helvetica,Arial,sans-serif;background:#eef0f3}
.head{background:#fff;padding:12px 18px;border-bottom:1px solid #d8dbe0;font-size:13px;color:#333;
line-height:1.6}.head b{display:inline-block;width:64px;color:#666;font-weight:normal}
.subject{font-size:17px;font-weight:bold;color:#111;margin-bottom:4px}
iframe{display:block;border:1px solid #d8dbe0;background:#fff;margin:12px;width:calc(100% - 26px)}
"""


def email_html(message: dict[str, Any], sender: str, to: str, height: int) -> str:
    """A mail-client frame around the email's own HTML part, shown as is in an iframe."""
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><style>{EMAIL_CSS}</style></head><body>"
        f"<div class=head><div class=subject>{E(message['subject'])}</div>"
        f"<b>From</b>{E(sender)}<br><b>To</b>{E(to)}</div>"
        f'<iframe style="height:{height}px" srcdoc="{E(message["html"], quote=True)}"></iframe>'
        "</body></html>"
    )


# --- Output ----------------------------------------------------------------------------------


def shoot(page: str, out: Path, height: int, tmp: Path) -> None:
    """Screenshot ``page`` at WIDTH x ``height`` with headless Chromium."""
    source = tmp / (out.stem + ".html")
    source.write_text(page, encoding="utf-8")
    profile = tempfile.mkdtemp(dir=tmp)
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
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={WIDTH},{height}",
            f"--screenshot={out.resolve()}",
            source.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def demo_output(tmp: Path) -> Path:
    """Run ``notify-plus demo --out`` and return the folder with what the stand-ins accepted."""
    out = tmp / "demo"
    subprocess.run(
        [sys.executable, "-m", "inventree_notify_plus", "demo", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def parse_args(argv: list[str] | None = None) -> Path:
    """The output folder, after checking that the tools this script needs are there."""
    parser = OneLineParser(prog="render_previews.py", description=__doc__)
    parser.add_argument(
        "out",
        nargs="?",
        default=str(ROOT / "docs" / "images"),
        metavar="OUT",
        help="folder for the PNG files, made if missing (default: docs/images)",
    )
    args = parser.parse_args(argv)
    if shutil.which("chromium") is None:
        parser.exit(2, "render_previews.py: needs Chromium on PATH: apt-get install -y chromium\n")
    try:
        import aiosmtpd  # noqa: F401 - notify-plus demo's SMTP stand-in
    except ImportError:
        parser.exit(2, "render_previews.py: needs the 'demo' extra: pip install -e '.[demo]'\n")
    # Checked only now, so a missing tool leaves no new empty folder behind.
    try:
        return writable_dir(args.out)
    except argparse.ArgumentTypeError as exc:
        parser.error(f"argument OUT: {exc}")


def main(argv: list[str] | None = None) -> int:
    return run_main(lambda: render(argv), prog="render_previews.py")


def render(argv: list[str] | None) -> int:
    target = parse_args(argv)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        demo = demo_output(tmp)
        slack_digest = json.loads((demo / "2-burst-slack.json").read_text())[-1]

        setup_django(str(tmp / "preview.sqlite3"), 25)
        from django.conf import settings

        slack_dest = Destination("slack", "slack:default", "http://x", "slack")
        discord_dest = Destination("discord", "discord:default", "http://x", "discord")
        alice = Destination(
            "email", "email:user:1", "alice@example.com", "Alice", recipient_name="Alice"
        )
        slack, discord = SlackChannel(CTX), DiscordChannel(CTX)

        shoot(
            slack_html(slack.render(slack_dest, [LOW], ["U0ALICE01"])),
            target / "slack-low-stock.png",
            290,
            tmp,
        )
        shoot(slack_html(slack_digest), target / "slack-digest.png", 330, tmp)
        shoot(
            discord_html(discord.render(discord_dest, [LOW])),
            target / "discord-low-stock.png",
            282,
            tmp,
        )
        shoot(
            discord_html(discord.render(discord_dest, [BUILD])),
            target / "discord-build-shortfall.png",
            312,
            tmp,
        )
        shoot(
            email_html(
                EmailChannel(CTX).render(alice, [LOW]),
                settings.DEFAULT_FROM_EMAIL,
                alice.address,
                296,
            ),
            target / "email-low-stock.png",
            418,
            tmp,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
