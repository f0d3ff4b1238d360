"""Ring 3, issue 17 part 3 and 4: a low part's email, then its recovery email in the same thread.

Against a live InvenTree server + worker (see ``test_live_inventree.py`` for the environment):

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_PASSWORD=... \\
      python -m pytest tests/e2e/test_email_thread_live.py -s -p no:django -o addopts=""

At the product's defaults, except ``NOTIFICATIONS_RECOVERY`` (the subject: the recovery email
only exists with it on; set back to off afterwards). Checks what the SMTP stand-in received
(the recovery's ``In-Reply-To``/``References`` = the low-stock email's ``Message-ID``) and
what InvenTree's bell shows (the low-stock message read once the part recovered).
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true

from tests.e2e.test_live_inventree import Live, drop_stock, make_part, star  # noqa: E402

SLACK_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SLACK_PORT", "9101"))
DISCORD_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_DISCORD_PORT", "9102"))
SMTP_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SMTP_PORT", "8025"))
RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def env():
    from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

    with (
        WebhookStandIn("slack", port=SLACK_PORT) as slack,
        WebhookStandIn("discord", port=DISCORD_PORT) as discord,
        SmtpStandIn(port=SMTP_PORT) as smtp,
    ):
        live = Live(slack, discord, smtp, None, None)
        live.run = f"thread-{RUN}"
        for key in ("NOTIFICATIONS_ENABLE", "NOTIFICATIONS_LOW_STOCK", "EMAIL_ENABLE"):
            live.setting(key, True)
        live.setting("SLACK_WEBHOOK_URL", slack.url)
        live.setting("DISCORD_WEBHOOK_URL", discord.url)
        live.addresses = {"alice": live.user("alice", live.group())}
        live.setting("NOTIFICATIONS_RECOVERY", True)  # the subject of this module
        try:
            yield live
        finally:
            live.setting("NOTIFICATIONS_RECOVERY", False)


def mails_to(env, address: str, subject: str) -> list:
    return [
        m for rcpts, m in list(env.smtp.messages) if address in rcpts and subject in m["Subject"]
    ]


def bell_rows(api, text: str) -> list[dict]:
    """The low-stock messages naming ``text`` in the user's InvenTree inbox (read or not)."""
    found = api.get("notifications/", params={"limit": 500})
    rows = found["results"] if isinstance(found, dict) else found
    return [
        r
        for r in rows
        if r.get("category") == "part.notify_low_stock" and text in str(r.get("message", ""))
    ]


def test_recovery_email_is_threaded_to_the_low_stock_email_and_the_bell_reads(env):
    from inventree.part import PartCategory
    from inventree.stock import StockItem

    category = PartCategory.create(env.admin, {"name": f"Threads {RUN}"})
    name = f"Thread washer {RUN}"
    part = make_part(env, category, name)
    star(env.users["alice"], "part", part.pk)
    star(env.admin, "part", part.pk)  # the admin's bell too
    address = env.addresses["alice"]

    drop_stock(env, part)  # 3 of a minimum of 10
    assert wait_for(lambda: mails_to(env, address, f"Low stock: {name}"), seconds=180)
    assert wait_for(lambda: bell_rows(env.admin, name), seconds=60)
    first = mails_to(env, address, f"Low stock: {name}")[0]

    StockItem.create(env.admin, {"part": part.pk, "quantity": 50})  # back above the minimum
    assert wait_for(lambda: mails_to(env, address, f"Stock recovered: {name}"), seconds=240)
    recovery = mails_to(env, address, f"Stock recovered: {name}")[0]
    admin_bell = wait_for(
        lambda: (rows := bell_rows(env.admin, name)) and all(r["read"] for r in rows) and rows,
        seconds=60,
    )
    print(
        f"\nemail thread: low stock {first['Message-ID']}, recovery {recovery['Message-ID']} "
        f"In-Reply-To {recovery['In-Reply-To']}; admin's bell: "
        f"{[(r['name'], r['read']) for r in bell_rows(env.admin, name)]}"
    )
    assert first["Message-ID"] and first["In-Reply-To"] is None
    assert recovery["In-Reply-To"] == first["Message-ID"]
    assert recovery["References"] == first["Message-ID"]
    assert recovery["Message-ID"] != first["Message-ID"]
    assert len(mails_to(env, address, name)) == 2  # one announcement, one recovery
    assert admin_bell and all(r["read"] for r in admin_bell)


def build_bell(api, reference: str) -> list[dict]:
    """The 'stock required' messages about build order ``reference`` in the user's inbox."""
    found = api.get("notifications/", params={"limit": 500})
    rows = found["results"] if isinstance(found, dict) else found
    return [
        r
        for r in rows
        if r.get("category") == "build.stock_required" and reference in str(r.get("message", ""))
    ]


def short_build(env, label: str):
    """A build order for an assembly alice follows, short of 4 x 5 of one component."""
    from inventree.build import Build
    from inventree.part import BomItem, PartCategory

    category = PartCategory.create(env.admin, {"name": f"{label} {RUN}"})
    assembly = make_part(env, category, f"{label} assembly {RUN}", assembly=True, component=False)
    component = make_part(env, category, f"{label} component {RUN}", minimum_stock=0)
    BomItem.create(env.admin, {"part": assembly.pk, "sub_part": component.pk, "quantity": 4})
    star(env.users["alice"], "part", assembly.pk)
    build = Build.create(env.admin, {"part": assembly.pk, "quantity": 5, "title": label})
    title = f"Build order {build.reference} lacks parts"
    # with InvenTree's 'new build order' notice, possibly in one digest: looked for in the body
    assert wait_for(lambda: env.emails_about(title)[env.addresses["alice"]], seconds=180)
    assert wait_for(lambda: build_bell(env.users["alice"], build.reference), seconds=60)
    return build, component, title


def test_a_cancelled_build_order_reads_its_shortfall_in_the_bell(env):
    build, _, title = short_build(env, "Cancelled")
    env.admin.post(f"build/{build.pk}/cancel/", {})  # InvenTree's build.cancelled event
    rows = wait_for(
        lambda: (
            (r := build_bell(env.users["alice"], build.reference))
            and all(x["read"] for x in r)
            and r
        ),
        seconds=120,
    )
    print(f"\ncancelled {build.reference}: alice's bell {[(r['name'], r['read']) for r in rows]}")
    assert rows and all(r["read"] for r in rows)
    assert env.emails_about(title)[env.addresses["alice"]] == 1  # announced once


def test_stock_covering_a_build_order_reads_its_shortfall_in_the_bell(env):
    from inventree.stock import StockItem

    build, component, title = short_build(env, "Covered")
    StockItem.create(env.admin, {"part": component.pk, "quantity": 5})  # 20 needed: still short
    StockItem.create(env.admin, {"part": component.pk, "quantity": 15})  # now covered
    rows = wait_for(
        lambda: (
            (r := build_bell(env.users["alice"], build.reference))
            and all(x["read"] for x in r)
            and r
        ),
        seconds=120,
    )
    print(f"\ncovered {build.reference}: alice's bell {[(r['name'], r['read']) for r in rows]}")
    assert rows and all(r["read"] for r in rows)
    assert env.emails_about(title)[env.addresses["alice"]] == 1
