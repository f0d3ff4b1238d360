"""Ring 3, issue 17 part 1: a low part's Discord message is edited to 'resolved' in place.

Against a live InvenTree server + worker at Notify Plus's defaults (only the destinations are
set), like ``test_defaults_live.py``:

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_PASSWORD=... \\
      python -m pytest tests/e2e/test_notice_life_live.py -s -p no:django -o addopts=""

A part goes low: the Discord stand-in gets one message. Stock is added: the same message is
edited (PATCH) to resolved, and nothing new is posted (recovery notices are off by default).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true

from tests.e2e.test_live_inventree import Live, drop_stock, make_part  # noqa: E402

SLACK_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SLACK_PORT", "9101"))
DISCORD_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_DISCORD_PORT", "9102"))
SMTP_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SMTP_PORT", "8025"))
RUN = uuid.uuid4().hex[:6]
QUIET = 15  # seconds to wait after the expected change, for anything that should not come
RESOLVED_COLOUR = 0x2ECC71


@pytest.fixture(scope="module")
def env():
    from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

    with (
        WebhookStandIn("slack", port=SLACK_PORT) as slack,
        WebhookStandIn("discord", port=DISCORD_PORT) as discord,
        SmtpStandIn(port=SMTP_PORT) as smtp,
    ):
        live = Live(slack, discord, smtp, None, None)
        live.run = RUN
        # The product as installed: only the destinations are set (there is no default URL).
        live.setting("SLACK_WEBHOOK_URL", slack.url)
        live.setting("DISCORD_WEBHOOK_URL", discord.url)
        yield live


def messages_about(discord, text: str) -> list:
    """The Discord stand-in's messages whose first version names ``text``."""
    found = []
    for message in list(discord.messages.values()):
        first = message.history[0] if message.history else message.payload
        if text in str(first):
            found.append(message)
    return found


def test_low_part_message_is_edited_to_resolved_when_stock_comes_back(env):
    from inventree.part import PartCategory

    category = PartCategory.create(env.admin, {"name": f"Life {RUN}"})
    name = f"Hinge {RUN}"
    part = make_part(env, category, name)
    drop_stock(env, part, quantity=3)  # 3 of minimum 10: low

    wait_for(lambda: messages_about(env.discord, name), seconds=120)
    found = messages_about(env.discord, name)
    assert len(found) == 1, f"expected one Discord message about {name}, got {len(found)}"
    message = found[0]
    assert message.edits == 0
    print(f"\nlow: Discord message {message.id}: {message.payload['embeds'][0].get('title')}")

    drop_stock(env, part, quantity=20)  # 23 of 10: recovered
    started = time.monotonic()
    wait_for(lambda: message.edits, seconds=240, step=2)
    took = time.monotonic() - started
    time.sleep(QUIET)  # a second edit or a new message would arrive meanwhile

    embed = message.payload["embeds"][0]
    print(
        f"recovered: edited {message.edits} time(s) after {took:.0f} s; "
        f"description {embed.get('description')!r}; "
        f"messages about the part {len(messages_about(env.discord, name))}"
    )
    assert message.edits == 1
    assert embed["color"] == RESOLVED_COLOUR
    assert "✅ Resolved <t:" in embed["description"]
    assert "available now 23" in embed["description"]
    assert len(messages_about(env.discord, name)) == 1, "the update must not post a new message"
