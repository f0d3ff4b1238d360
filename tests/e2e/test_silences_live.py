"""Ring 3: silences and snoozes against a live InvenTree server + worker (issue 19).

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_PASSWORD=... \\
      pytest tests/e2e/test_silences_live.py -s -p no:django -o addopts=""

At the product's defaults (a minute's grouping, recovery notices off); Slack, Discord and SMTP
are loopback stand-ins. Staff use the silences API with an API token; a user confirms a snooze
link in a browser-like session (InvenTree's sign-in API, its CSRF cookie).
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
import requests

from tests.e2e.test_live_inventree import (
    DISCORD_PORT,
    LAB_DISCORD_PORT,
    LAB_SLACK_PORT,
    PASSWORD,
    RUN,
    SLACK_PORT,
    SMTP_PORT,
    URL,
    Live,
    drop_stock,
    make_part,
    star,
)
from tests.support.live import wait_for

API = f"{URL}/plugin/notify-plus/"


def staff_session() -> requests.Session:
    """The admin's API token on a requests session (the plugin's endpoints are not under /api/)."""
    user = os.environ.get("NOTIFY_PLUS_E2E_USER", "admin")
    password = os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree")
    token = requests.get(f"{URL}/api/user/token/", auth=(user, password), timeout=10).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token['token']}"
    return session


def signed_in(username: str, password: str) -> requests.Session:
    """A browser-like session: InvenTree's CSRF cookie, then its sign-in API."""
    session = requests.Session()
    session.get(f"{URL}/api/auth/v1/config", timeout=10)
    answer = session.post(
        f"{URL}/api/auth/v1/auth/login",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[:300]
    return session


def confirm(session: requests.Session, link: str) -> requests.Response:
    """Open a snooze link and press Confirm, as a browser does (the form's CSRF token)."""
    page = session.get(link, timeout=10)
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        link,
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": link},
        timeout=10,
    )


@pytest.fixture(scope="module")
def live():
    from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

    with (
        WebhookStandIn("slack", port=SLACK_PORT) as slack,
        WebhookStandIn("discord", port=DISCORD_PORT) as discord,
        SmtpStandIn(port=SMTP_PORT) as smtp,
        WebhookStandIn("slack", port=LAB_SLACK_PORT) as lab_slack,
        WebhookStandIn("discord", port=LAB_DISCORD_PORT) as lab_discord,
    ):
        env = Live(slack, discord, smtp, lab_slack, lab_discord)
        env.run = f"sil{RUN}"
        env.setting("NOTIFICATIONS_ENABLE", True)
        env.setting("NOTIFICATIONS_LOW_STOCK", True)
        env.setting("EMAIL_ENABLE", True)
        env.setting("SLACK_WEBHOOK_URL", slack.url)
        env.setting("DISCORD_WEBHOOK_URL", discord.url)
        group = env.group()
        env.addresses = {name: env.user(name, group) for name in ("alice", "bob")}
        env.staff = staff_session()
        yield env


def category(live, name: str):
    from inventree.part import PartCategory

    return PartCategory.create(live.admin, {"name": f"{name} {live.run}"})


def user_pk(live, name: str) -> int:
    username = f"{name}-{live.run}"
    found = live.admin.get("user/", params={"search": username})
    return next(u["pk"] for u in found if u["username"] == username)


def silence(live, **fields) -> dict:
    answer = live.staff.post(f"{API}silences/", json={"duration": "1h", **fields}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def log_rows(live, search: str) -> list[dict]:
    answer = live.staff.get(
        f"{API}deliveries/", params={"search": search, "limit": 200}, timeout=10
    )
    return answer.json()["results"]


def settle() -> None:
    """Anything more that would arrive (a duplicate, a leak) has time to arrive."""
    time.sleep(10)


def low_rows(live, text: str) -> list[dict]:
    """The delivery log's low-stock rows whose notice names ``text``."""
    return [r for r in log_rows(live, text) if r["notification"].startswith("Low stock:")]


def test_a_silence_holds_a_burst_and_its_end_announces_only_what_is_still_low(live):
    from inventree.part import PartCategory
    from inventree.stock import StockItem

    parent = category(live, "Silenced")
    child = PartCategory.create(live.admin, {"name": f"Under {live.run}", "parent": parent.pk})
    names = [f"Burst {n} {live.run}" for n in range(3)]
    parts = [make_part(live, child, name) for name in names]
    star(live.users["alice"], "part/category", parent.pk)  # after creating: no 'new part' notice
    held = silence(live, part_category=parent.pk, comment="stocktake")
    for part in parts:
        drop_stock(live, part)

    # Each part's notice is held for each destination: Slack, Discord and alice's mailbox.
    wait_for(
        lambda: len([r for r in low_rows(live, live.run) if "Burst" in r["notification"]]) >= 9
    )
    settle()
    rows = [r for r in low_rows(live, live.run) if "Burst" in r["notification"]]
    assert {r["status"] for r in rows} == {"silenced"} and len(rows) == 9
    for name in names:
        assert live.posts_about(name) == (0, 0) and not live.emails_about(name)
    listed = live.staff.get(f"{API}silences/", timeout=10).json()
    assert held["id"] in [s["id"] for s in listed["active"]]

    # The third part is restocked during the silence; then staff expire it.
    StockItem.create(live.admin, {"part": parts[2].pk, "quantity": 50})
    answer = live.staff.delete(f"{API}silences/{held['id']}/", timeout=10)
    assert answer.status_code == 200 and answer.json()["announced"] == 6, answer.text

    wait_for(
        lambda: (
            all(live.posts_about(n) == (1, 1) for n in names[:2])
            and all(live.emails_about(n) for n in names[:2])
        )
    )
    settle()
    for name in names[:2]:
        assert live.posts_about(name) == (1, 1), name
        assert live.emails_about(name) == {live.addresses["alice"]: 1}, name
    assert live.posts_about(names[2]) == (0, 0) and not live.emails_about(names[2])
    recovered = low_rows(live, names[2])
    assert recovered and all("recovered while silenced" in r["last_error"] for r in recovered)
    listed = live.staff.get(f"{API}silences/", timeout=10).json()
    assert held["id"] in [s["id"] for s in listed["expired"]]


def test_a_snooze_link_stops_that_users_email_for_that_part_only(live):
    parent = category(live, "Snoozed")
    alice, bob = live.addresses["alice"], live.addresses["bob"]
    snoozed_name, other_name = f"Snoozed part {live.run}", f"Other part {live.run}"
    snoozed = make_part(live, parent, snoozed_name)
    other = make_part(live, parent, other_name)
    star(live.users["alice"], "part/category", parent.pk)
    star(live.users["bob"], "part/category", parent.pk)
    # Alice's email about the part waits behind a silence while the channel post goes out.
    held = silence(live, part=snoozed.pk, destination=f"email:user:{user_pk(live, 'alice')}")
    drop_stock(live, snoozed)
    wait_for(lambda: live.posts_about(snoozed_name)[0] and live.emails_about(snoozed_name))
    assert live.emails_about(snoozed_name) == {bob: 1}

    # Channel posts carry shared links: alice signs in and snoozes the part for a day.
    post = json.dumps(next(b for b in live.slack.accepted if snoozed_name in json.dumps(b)))
    links = dict((label, url) for url, label in re.findall(r"<([^|>]+)\|(Snooze 1 \w+)>", post))
    assert set(links) == {"Snooze 1 day", "Snooze 1 week"}
    assert links["Snooze 1 day"].startswith(f"{URL}/plugin/notify-plus/snooze/")
    session = signed_in(f"alice-{live.run}", PASSWORD)
    done = confirm(session, links["Snooze 1 day"])
    if done.status_code == 401:
        # Seen once in CI (2026-12-02): the POST saw no session right after a 200 GET in the same
        # one. Not understood yet: say so loudly, then do what the page asks (sign in, try again).
        print(
            "\nsnooze: the confirm POST answered 401 (signed out) after a 200 GET; signing in again"
        )
        session = signed_in(f"alice-{live.run}", PASSWORD)
        done = confirm(session, links["Snooze 1 day"])
    assert done.status_code == 200 and "Snoozed" in done.text, done.text[:500]
    assert session.post(links["Snooze 1 day"], timeout=10).status_code in (403, 410)
    mine = session.get(f"{API}snoozes/", timeout=10).json()["snoozes"]
    assert [s["title"] for s in mine] == [f"Low stock: {snoozed_name}"]

    # Bob's email links are his: alice may not use them.
    bobs = next(
        m for rcpts, m in live.smtp.messages if bob in rcpts and snoozed_name in str(m["Subject"])
    )
    text = next(
        p.get_payload(decode=True).decode()
        for p in bobs.walk()
        if p.get_content_type() == "text/plain"
    )
    bob_link = re.search(r"Snooze 1 day: (\S+)", text).group(1)
    assert session.get(bob_link, timeout=10).status_code == 403

    # The silence ends: alice's held email about the snoozed part is not sent; the other part
    # still reaches her.
    assert live.staff.delete(f"{API}silences/{held['id']}/", timeout=10).status_code == 200
    drop_stock(live, other)
    # (bob's comes as the grouping interval after his last email allows: up to a minute)
    wait_for(lambda: len(live.emails_about(other_name)) == 2, seconds=120)
    settle()
    assert live.emails_about(snoozed_name) == {bob: 1}
    assert live.emails_about(other_name) == {alice: 1, bob: 1}
    skipped = [
        r
        for r in low_rows(live, snoozed_name)
        if r["channel"] == "email" and r["status"] == "skipped"
    ]
    assert len(skipped) == 1 and "snoozed by alice" in skipped[0]["last_error"]
