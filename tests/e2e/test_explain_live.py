"""Ring 3, issue 17 part 5: 'Why?' against a live InvenTree server + worker, at the defaults.

Same environment as ``test_live_inventree.py``:

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_PASSWORD=... \\
      python -m pytest tests/e2e/test_explain_live.py -s -p no:django -o addopts=""

Only the destinations are set (there is no default webhook URL); everything else stays at the
product's defaults. A part goes low; what arrived is checked at the stand-ins, then the explain
answer is read as the subscriber (about themselves), as staff, and as a non-subscriber.
"""

from __future__ import annotations

import os
import uuid

import pytest
import requests

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true

from tests.e2e.test_live_inventree import PASSWORD, Live, drop_stock, make_part, star  # noqa: E402

SLACK_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SLACK_PORT", "9101"))
DISCORD_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_DISCORD_PORT", "9102"))
SMTP_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SMTP_PORT", "8025"))
RUN = uuid.uuid4().hex[:6]


def token(username: str, password: str) -> str:
    """An InvenTree API token for this user (the endpoint takes tokens and sessions)."""
    answer = requests.get(f"{URL}/api/user/token/", auth=(username, password), timeout=10)
    answer.raise_for_status()
    return answer.json()["token"]


def explain(key: str, **params) -> requests.Response:
    return requests.get(
        f"{URL}/plugin/notify-plus/explain/",
        params=params,
        headers={"Authorization": f"Token {key}"},
        timeout=30,
    )


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
        for key in ("NOTIFICATIONS_ENABLE", "NOTIFICATIONS_LOW_STOCK", "EMAIL_ENABLE"):
            live.setting(key, True)
        live.setting("SLACK_WEBHOOK_URL", slack.url)
        live.setting("DISCORD_WEBHOOK_URL", discord.url)
        group = live.group()
        live.addresses = {name: live.user(name, group) for name in ("alice", "carol")}
        yield live


def test_the_subscriber_of_a_low_part_sees_email_slack_and_discord_sent(env):
    from inventree.part import PartCategory

    category = PartCategory.create(env.admin, {"name": f"Why {RUN}"})
    name = f"Why nut {RUN}"
    part = make_part(env, category, name)
    star(env.users["alice"], "part", part.pk)
    drop_stock(env, part)
    wait_for(lambda: env.emails_about(name) and all(env.posts_about(name)))
    assert env.emails_about(name)[env.addresses["alice"]] == 1
    assert env.posts_about(name) == (1, 1)

    alice = token(f"alice-{RUN}", PASSWORD)

    def sent_everywhere() -> dict | None:
        answer = explain(alice, part=part.pk).json()
        deliveries = [d for n in answer["notices"] for d in n["deliveries"]]
        statuses = {d["channel"]: d["status"] for d in deliveries}
        return answer if statuses == {"email": "sent", "slack": "sent", "discord": "sent"} else None

    answer = wait_for(sent_everywhere, seconds=30)  # the worker records 'sent' after the send
    assert answer, explain(alice, part=part.pk).json()
    print(f"\nexplain for alice: via {answer['via']}, reason {answer['reason']}")
    for notice in answer["notices"]:
        print(f"  {notice['title']}: route {notice['route']}")
        for d in notice["deliveries"]:
            print(f"    {d['channel']} {d['destination']}: {d['text']}")
    assert [v["star"] for v in answer["via"]] == ["this part"]
    assert answer["sent_to_user"] is True and answer["reason"] is None
    [notice] = answer["notices"]
    assert notice["title"] == f"Low stock: {name}"
    assert notice["route"]["default"] is True
    assert sorted(notice["route"]["to"]) == ["discord:default", "slack:default"]
    assert "SeCrEtToKeN" not in str(answer)

    # carol follows nothing: told so, and may not ask about alice
    carol = token(f"carol-{RUN}", PASSWORD)
    mine = explain(carol, part=part.pk).json()
    print(f"explain for carol: {mine['reason']}")
    assert mine["reason"]["code"] == "not_subscribed"
    assert explain(carol, part=part.pk, user=answer["user"]["pk"]).status_code == 403
