"""Ring 3: end to end against a live InvenTree server + worker with Notify Plus installed.

Driven through InvenTree's REST API with the ``inventree`` client, as an admin and as three
users; Slack, Discord and the SMTP server are loopback stand-ins this test starts:

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_USER=admin \\
    NOTIFY_PLUS_E2E_PASSWORD=... pytest tests/e2e -s

The InvenTree server and worker must run with ``INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS`` naming
the stand-ins (default ports: Slack 9101 and 9103, Discord 9102 and 9104), InvenTree's email set to SMTP on
127.0.0.1:8025, and the plugin active with app, schedule, event and URL integration on.
Skipped when no InvenTree is given (a failure under ``CI=true``).
"""

from __future__ import annotations

import html
import os
import time
import uuid
from collections import Counter

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true

SLACK_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SLACK_PORT", "9101"))
DISCORD_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_DISCORD_PORT", "9102"))
SMTP_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SMTP_PORT", "8025"))
LAB_SLACK_PORT = SLACK_PORT + 2
LAB_DISCORD_PORT = DISCORD_PORT + 2
RUN = uuid.uuid4().hex[:6]
PASSWORD = f"Np-e2e-{uuid.uuid4().hex}"


class Live:
    """The admin API, the users, and the stand-ins of one run."""

    def __init__(self, slack, discord, smtp, lab_slack, lab_discord) -> None:
        from inventree.api import InvenTreeAPI

        self.slack, self.discord, self.smtp = slack, discord, smtp
        self.lab_slack, self.lab_discord = lab_slack, lab_discord
        self.admin = InvenTreeAPI(
            URL,
            username=os.environ.get("NOTIFY_PLUS_E2E_USER", "admin"),
            password=os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree"),
        )
        self.users: dict[str, object] = {}
        self.run = RUN  # names of the users and group this run makes (one per module)

    def setting(self, key: str, value) -> None:
        self.admin.patch(f"plugins/notify-plus/settings/{key}/", {"value": value})

    def user(self, name: str, group: int):
        from inventree.api import InvenTreeAPI

        username = f"{name}-{self.run}"
        created = self.admin.post(
            "user/",
            {
                "username": username,
                "first_name": name.title(),
                "last_name": "Tester",
                "email": f"{username}@example.com",
            },
        )
        # InvenTree 1.5 fails (500) on group_ids at creation; set them afterwards
        self.admin.patch(f"user/{created['pk']}/", {"group_ids": [group]})
        self.admin.put(
            f"user/{created['pk']}/set-password/", {"password": PASSWORD, "override_warning": True}
        )
        self.users[name] = InvenTreeAPI(URL, username=username, password=PASSWORD)
        return f"{username}@example.com"

    def group(self) -> int:
        group = self.admin.post("user/group/", {"name": f"np-e2e-{self.run}"})
        for ruleset in self.admin.get("user/ruleset/", params={"group": group["pk"]}):
            if ruleset["name"] in ("part", "part_category", "stock", "stock_location", "build"):
                self.admin.patch(
                    f"user/ruleset/{ruleset['pk']}/", {"can_view": True, "can_change": True}
                )
        return group["pk"]

    def emails_about(self, text: str) -> Counter:
        """Messages per recipient whose subject or body mentions ``text``."""
        found: Counter = Counter()
        for rcpts, message in list(self.smtp.messages):
            body = html.unescape(
                " ".join(
                    part.get_payload(decode=True).decode("utf-8", "replace")
                    for part in message.walk()
                    if not part.is_multipart()
                )
            )
            if text in str(message["Subject"]) or text in body:
                for rcpt in rcpts:
                    found[rcpt] += 1
        return found

    def posts_about(self, text: str, lab: bool = False) -> tuple[int, int]:
        """Slack and Discord messages carrying a notice whose title mentions ``text``."""
        from inventree_notify_plus.devtools.received import discord_titles, slack_titles

        def count(bodies, titles) -> int:
            return sum(any(text in title for title in titles(body)[0]) for body in list(bodies))

        slack, discord = (self.lab_slack, self.lab_discord) if lab else (self.slack, self.discord)
        return count(slack.accepted, slack_titles), count(discord.accepted, discord_titles)

    def slack_message_about(self, text: str) -> str:
        """The text of the Slack message carrying the notice about ``text``."""
        import json

        from inventree_notify_plus.devtools.received import slack_titles

        body = next(b for b in self.slack.accepted if any(text in t for t in slack_titles(b)[0]))
        return json.dumps(body, ensure_ascii=False)


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
        env.setting("NOTIFICATIONS_ENABLE", True)
        env.setting("NOTIFICATIONS_LOW_STOCK", True)
        env.setting("EMAIL_ENABLE", True)
        env.setting("SLACK_WEBHOOK_URL", slack.url)
        env.setting("DISCORD_WEBHOOK_URL", discord.url)
        group = env.group()
        env.addresses = {
            name: env.user(name, group) for name in ("alice", "bob", "carol", "dave", "erin")
        }
        yield env


@pytest.fixture(scope="module")
def tree(live):
    from inventree.part import PartCategory

    parent = PartCategory.create(live.admin, {"name": f"Mechanical {RUN}"})
    child = PartCategory.create(live.admin, {"name": f"Fasteners {RUN}", "parent": parent.pk})
    return parent, child


def make_part(live, category, name, **extra):
    from inventree.part import Part

    return Part.create(
        live.admin,
        {"name": name, "category": category.pk, "minimum_stock": 10, "component": True, **extra},
    )


def star(api, what: str, pk: int) -> None:
    api.patch(f"{what}/{pk}/", {"starred": True})


def drop_stock(live, part, quantity=3) -> None:
    from inventree.stock import StockItem

    StockItem.create(live.admin, {"part": part.pk, "quantity": quantity})


def test_low_stock_reaches_each_channel_and_each_subscriber_once(live, tree):
    parent, child = tree
    # InvenTree itself refuses HTML-like '<...>' in names; the rest of the hostile text goes in
    name = f"M3 screw @everyone @here **x** & co {RUN}"
    part = make_part(live, child, name, IPN=f"SCR-{RUN}")
    star(live.users["alice"], "part", part.pk)  # via the part
    star(live.users["bob"], "part/category", parent.pk)  # via a parent category
    # carol subscribes to nothing
    drop_stock(live, part)

    wait_for(lambda: len(live.emails_about(name)) >= 2 and all(live.posts_about(name)))
    time.sleep(10)  # anything more that would arrive (a duplicate) has time to arrive
    emails = live.emails_about(name)
    slack, discord = live.posts_about(name)
    print(f"\nlow stock: slack {slack}, discord {discord}, emails {dict(emails)}")
    assert (slack, discord) == (1, 1)
    assert emails[live.addresses["alice"]] == 1
    assert emails[live.addresses["bob"]] == 1
    assert live.addresses["carol"] not in emails
    for rcpts, message in live.smtp.messages:
        if name in str(message["Subject"]):
            assert len(rcpts) == 1 and "," not in str(message["To"])
    # a message of its own or a digest (a window left open by an earlier test): either way the
    # name is escaped text and mentions nobody
    text = live.slack_message_about(name)
    assert "&amp; co" in text and "<!" not in text
    embed = next(b for b in live.discord.accepted if f"SCR-{RUN}" in str(b))
    assert embed["allowed_mentions"] == {"parse": [], "users": []}


def test_low_stock_switch_off_stops_every_low_stock_notice(live, tree):
    """'Low stock notices' off: no email (InvenTree's included), Slack or Discord; the bell rings."""
    _, child = tree
    name = f"Washer {RUN}"
    part = make_part(live, child, name)
    star(live.users["alice"], "part", part.pk)
    live.setting("NOTIFICATIONS_LOW_STOCK", False)
    try:
        drop_stock(live, part)

        def in_alices_bell() -> bool:
            entries = live.users["alice"].get("notifications/")
            entries = entries.get("results", entries) if isinstance(entries, dict) else entries
            return any(name in str(entry) for entry in entries or [])

        wait_for(in_alices_bell, seconds=60)
        time.sleep(10)  # time for any email or post that would still come
        print(
            f"\nlow stock off: slack/discord {live.posts_about(name)}, emails {live.emails_about(name)}"
        )
        assert live.posts_about(name) == (0, 0)
        assert dict(live.emails_about(name)) == {}
    finally:
        live.setting("NOTIFICATIONS_LOW_STOCK", True)


def test_a_user_who_said_no_to_email_gets_none(live, tree):
    """Erin switched InvenTree's 'Allow email notifications' off; Notify Plus respects it."""
    _, child = tree
    erin = live.users["erin"]
    erin.patch(
        "plugins/inventree-email-notification/user-settings/NOTIFY_BY_EMAIL/", {"value": False}
    )
    name = f"Spacer {RUN}"
    part = make_part(live, child, name)
    star(live.users["alice"], "part", part.pk)
    star(erin, "part", part.pk)
    drop_stock(live, part)
    wait_for(lambda: live.emails_about(name) and all(live.posts_about(name)))
    time.sleep(10)
    emails = dict(live.emails_about(name))
    print(f"\nopt-out: emails {emails}")
    assert live.addresses["erin"] not in emails
    assert emails == {live.addresses["alice"]: 1, live.addresses["bob"]: 1}


def test_deactivating_gives_email_back_at_once(live, tree):
    _, child = tree
    name = f"Rivet {RUN}"
    part = make_part(live, child, name)
    star(live.users["alice"], "part", part.pk)
    live.admin.patch("plugins/notify-plus/activate/", {"active": False})
    try:
        time.sleep(3)
        drop_stock(live, part)
        wait_for(lambda: live.emails_about(name), seconds=60)
        time.sleep(10)
        emails = dict(live.emails_about(name))
        print(f"\ndeactivated: emails {emails}, slack/discord {live.posts_about(name)}")
        # InvenTree's own email (one message to both, as InvenTree sends it)
        assert emails == {live.addresses["alice"]: 1, live.addresses["bob"]: 1}
        assert live.posts_about(name) == (0, 0)
    finally:
        live.admin.patch("plugins/notify-plus/activate/", {"active": True})
        time.sleep(3)


def test_a_routes_typo_is_refused_on_save(live):
    from requests import HTTPError

    with pytest.raises(HTTPError) as err:
        live.setting("ROUTES", '[{"part_category": [1], "to": ["slack:purchasng"]}]')
    answer = err.value.args[0] if err.value.args else {}
    body = answer.get("body", "") if isinstance(answer, dict) else str(answer)
    print(f"\nroutes typo refused: {body}")  # not the whole error: it carries the API token
    assert "unknown destination 'slack:purchasng'" in body
    assert "(configured: discord:default" in body and "slack:default" in body


def test_build_order_short_of_parts_notifies_assembly_subscribers(live, tree):
    from inventree.build import Build
    from inventree.part import BomItem

    _, child = tree
    assembly = make_part(live, child, f"Widget {RUN}", assembly=True, component=False)
    resistor = make_part(live, child, f"Resistor 10k {RUN}")
    nut = make_part(live, child, f"M3 nut {RUN}")
    BomItem.create(live.admin, {"part": assembly.pk, "sub_part": resistor.pk, "quantity": 10})
    BomItem.create(live.admin, {"part": assembly.pk, "sub_part": nut.pk, "quantity": 4})
    star(live.users["alice"], "part", assembly.pk)
    build = Build.create(live.admin, {"part": assembly.pk, "quantity": 5, "title": "e2e"})
    reference = build.reference
    title = f"Build order {reference} lacks parts"
    # announced when the build order is created (the seed's rule), before it is issued
    wait_for(lambda: all(live.posts_about(title)) and live.emails_about(title))
    live.admin.post(f"build/{build.pk}/issue/", {})  # InvenTree 1.5 checks again on issue
    time.sleep(20)
    slack, discord = live.posts_about(title)
    emails = live.emails_about(title)
    print(f"\nbuild {reference}: slack {slack}, discord {discord}, emails {dict(emails)}")
    assert slack == 1 and discord == 1
    assert emails[live.addresses["alice"]] == 1
    text = live.slack_message_about(title)
    assert f"Resistor 10k {RUN}" in text and "required 50" in text and "available 0" in text
    assert f"M3 nut {RUN}" in text and "required 20" in text


def test_anchor_ten_low_stock_events_while_slack_fails_first(live, tree):
    """InvenTree's built-in Slack method lost 5 of these 10 (measured); count what arrives."""
    from inventree_notify_plus.devtools.received import slack_titles
    from inventree_notify_plus.devtools.standins import Answer

    _, child = tree
    live.slack.then(
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(500, "internal_error"),
        Answer(500, "internal_error"),
        Answer(503),
    )
    names = [f"Anchor part {n} {RUN}" for n in range(10)]
    first_drop = time.monotonic()
    for name in names:
        part = make_part(live, child, name)
        star(live.users["alice"], "part", part.pk)
        drop_stock(live, part)

    def seen() -> Counter:
        counted: Counter = Counter()
        for body in list(live.slack.accepted):
            for title in slack_titles(body)[0]:
                for name in names:
                    if title.endswith(name):
                        counted[name] += 1
        return counted

    wait_for(lambda: len(seen()) == 10, seconds=240, step=0.5)
    elapsed = time.monotonic() - first_drop
    counted = seen()
    delivered = len(counted)
    duplicates = sum(n - 1 for n in counted.values())
    print(
        f"\nanchor: delivered {delivered}/10, lost {10 - delivered}, duplicates {duplicates}, "
        f"all on Slack {elapsed:.0f} s after the first drop"
    )
    assert delivered == 10 and duplicates == 0


def test_routes_send_each_category_to_its_channels_and_honour_user_choices(live, tree):
    """Two Slack and two Discord destinations, routes by part category; Dave has email off
    but opted in to be mentioned."""
    from inventree.part import PartCategory

    parent, _ = tree
    purchasing = PartCategory.create(live.admin, {"name": f"Purchasing {RUN}", "parent": parent.pk})
    lab = PartCategory.create(live.admin, {"name": f"Lab {RUN}", "parent": parent.pk})
    live.setting("SLACK_EXTRA_WEBHOOKS", f"lab={live.lab_slack.url}")
    live.setting("DISCORD_EXTRA_WEBHOOKS", f"lab={live.lab_discord.url}")
    routes = (
        f'[{{"part_category": [{purchasing.pk}], "to": ["slack:default", "discord:default"]}},'
        f' {{"part_category": [{lab.pk}], "to": ["slack:lab", "discord:lab"]}}]'
    )
    live.setting("ROUTES", routes)
    dave = live.users["dave"]
    dave.patch("plugins/notify-plus/user-settings/NOTIFY_PLUS_EMAIL/", {"value": "off"})
    dave.patch(
        "plugins/notify-plus/user-settings/NOTIFY_PLUS_SLACK_MEMBER_ID/", {"value": "U0DAVE0001"}
    )
    dave.patch(
        "plugins/notify-plus/user-settings/NOTIFY_PLUS_DISCORD_USER_ID/",
        {"value": "123456789012345678"},
    )
    star(dave, "part/category", lab.pk)
    try:
        bolt = make_part(live, purchasing, f"Bolt {RUN}")
        probe = make_part(live, lab, f"Probe {RUN}")
        star(live.users["alice"], "part", bolt.pk)
        drop_stock(live, bolt)
        drop_stock(live, probe)
        wait_for(
            lambda: (
                all(live.posts_about(f"Bolt {RUN}"))
                and all(live.posts_about(f"Probe {RUN}", lab=True))
            )
        )
        time.sleep(5)
        where = {
            "bolt default": live.posts_about(f"Bolt {RUN}"),
            "bolt lab": live.posts_about(f"Bolt {RUN}", lab=True),
            "probe default": live.posts_about(f"Probe {RUN}"),
            "probe lab": live.posts_about(f"Probe {RUN}", lab=True),
            "emails bolt": dict(live.emails_about(f"Bolt {RUN}")),
            "emails probe": dict(live.emails_about(f"Probe {RUN}")),
        }
        print(f"\nroutes: {where}")
        assert where["bolt default"] == (1, 1) and where["bolt lab"] == (0, 0)
        assert where["probe lab"] == (1, 1) and where["probe default"] == (0, 0)
        assert where["emails bolt"][live.addresses["alice"]] == 1
        assert all(
            n == 1 for n in [*where["emails bolt"].values(), *where["emails probe"].values()]
        )
        assert live.addresses["dave"] not in where["emails probe"]  # email off, still mentioned
        slack = next(b for b in live.lab_slack.accepted if f"Probe {RUN}" in str(b))
        discord = next(b for b in live.lab_discord.accepted if f"Probe {RUN}" in str(b))
        assert "<@U0DAVE0001>" in slack["text"]
        assert discord["allowed_mentions"] == {"parse": [], "users": ["123456789012345678"]}
    finally:
        live.setting("ROUTES", "")


def test_zz_summary_of_what_arrived_where(live):
    """Last in the module: what arrived where over the whole run, InvenTree's own mail included."""
    import requests

    from inventree_notify_plus.devtools.received import discord_titles, slack_titles

    per_rcpt: Counter = Counter(r for rcpts, _ in list(live.smtp.messages) for r in rcpts)
    print("\nsummary of the run:")
    for label, standin in (
        ("slack", live.slack),
        ("discord", live.discord),
        ("slack:lab", live.lab_slack),
        ("discord:lab", live.lab_discord),
    ):
        titles = slack_titles if standin.kind == "slack" else discord_titles
        notices = sum(len(titles(body)[0]) for body in list(standin.accepted))
        print(
            f"  {label}: {standin.requests} requests, {len(standin.accepted)} messages accepted "
            f"carrying {notices} notices"
        )
    print(f"  smtp: {len(live.smtp.messages)} messages (InvenTree's own included)")
    for rcpt, count in sorted(per_rcpt.items()):
        subjects = Counter(
            str(m["Subject"]).replace("\r\n", "")
            for rcpts, m in live.smtp.messages
            if rcpt in rcpts
        )
        print(f"    {rcpt}: {count} {dict(subjects)}")
    user = os.environ.get("NOTIFY_PLUS_E2E_USER", "admin")
    password = os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree")
    token = requests.get(f"{URL}/api/user/token/", auth=(user, password), timeout=10).json()
    log = requests.get(
        f"{URL}/plugin/notify-plus/deliveries/",
        headers={"Authorization": f"Token {token['token']}"},
        timeout=10,
    ).json()
    print(f"  delivery log, last 24 h: {log.get('counts')}")
    # Notify Plus's emails go to one person each; InvenTree's own (sent while Notify Plus was
    # deactivated or had low stock switched off) address everyone at once, as InvenTree does.
    inventree_own = "Low stock notification"
    assert all(
        len(rcpts) == 1 for rcpts, m in live.smtp.messages if inventree_own not in str(m["Subject"])
    )
