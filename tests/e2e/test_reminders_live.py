"""Ring 3, issue 19 parts 3 and 4: reminders by email; stock on order not announced until received.

Against a live InvenTree server + worker (schedule integration on: the minutely sweep sends
reminders), like ``test_live_inventree.py``:

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_PASSWORD=... \\
      python -m pytest tests/e2e/test_reminders_live.py -s -p no:django -o addopts=""

Each test changes only its subject: ``REMIND_AFTER`` (one minute) or ``LOW_STOCK_COUNT_ON_ORDER``
(on), put back to its default (off) afterwards; every other setting stays at its default.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true

from tests.e2e.test_live_inventree import Live, drop_stock, make_part, star  # noqa: E402

SMTP_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SMTP_PORT", "8025"))
RUN = uuid.uuid4().hex[:6]


class Reminders(Live):
    """The live helpers, plus the delivery log."""

    def log(self, title: str, status: str) -> list[dict]:
        """Delivery-log rows whose title names ``title``, with ``status``."""
        import requests

        user = os.environ.get("NOTIFY_PLUS_E2E_USER", "admin")
        password = os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree")
        token = requests.get(f"{URL}/api/user/token/", auth=(user, password), timeout=10).json()
        found = requests.get(
            f"{URL}/plugin/notify-plus/deliveries/",
            params={"search": title, "status": status},
            headers={"Authorization": f"Token {token['token']}"},
            timeout=10,
        ).json()
        return found.get("results", [])


@pytest.fixture(scope="module")
def env():
    from inventree_notify_plus.devtools.standins import SmtpStandIn

    with SmtpStandIn(port=SMTP_PORT) as smtp:
        live = Reminders(None, None, smtp, None, None)
        live.run = f"rem{RUN}"
        for key in ("NOTIFICATIONS_ENABLE", "NOTIFICATIONS_LOW_STOCK", "EMAIL_ENABLE"):
            live.setting(key, True)
        group = live.group()
        live.addresses = {"alice": live.user("alice", group)}
        yield live


def test_a_part_still_low_after_the_interval_is_reminded_by_email(env):
    from inventree.part import PartCategory

    category = PartCategory.create(env.admin, {"name": f"Reminders {RUN}"})
    name = f"Spacer {RUN}"
    part = make_part(env, category, name)
    star(env.users["alice"], "part", part.pk)
    alice = env.addresses["alice"]
    env.setting("REMIND_AFTER", "1m")
    try:
        started = time.monotonic()
        drop_stock(env, part)
        assert wait_for(lambda: env.emails_about(f"Low stock: {name}")[alice] >= 1, 90)
        announced = time.monotonic() - started
        # The sweep runs every minute: the reminder comes one to two minutes after the start.
        assert wait_for(lambda: env.emails_about(f"Still low: {name}")[alice] >= 1, 200, 2)
        reminded = time.monotonic() - started
        reminder = next(
            message
            for _, message in env.smtp.messages
            if f"Still low: {name}" in str(message["Subject"])
        )
        body = " ".join(
            part.get_payload(decode=True).decode("utf-8", "replace")
            for part in reminder.walk()
            if not part.is_multipart()
        )
        print(
            f"\nreminder: announced after {announced:.0f} s, reminded after {reminded:.0f} s; "
            f"subject {reminder['Subject']!r}"
        )
        assert "Still low since" in body
        assert "minute" in body
        # One reminder per interval: at most one more within the next minute.
        time.sleep(30)
        assert env.emails_about(f"Still low: {name}")[alice] <= 2
        assert env.emails_about(f"Low stock: {name}")[alice] == 1
    finally:
        env.setting("REMIND_AFTER", "")


def test_stock_on_order_is_not_announced_until_a_receipt_leaves_the_part_low(env):
    """Issue 19 part 4, ``LOW_STOCK_COUNT_ON_ORDER`` (the subject, on for this test only).

    A placed purchase order covers the part: no email, the log says why. The 3 in stock are
    used, the 7 ordered arrive: 7 of 10, nothing more on order; InvenTree's worker hands the
    plugin the receipt event and the part is announced.
    """
    admin = env.admin
    name = f"Bushing {RUN}"
    alice = env.addresses["alice"]
    supplier = admin.post("company/", {"name": f"Bushings Ltd {RUN}", "is_supplier": True})
    location = admin.post("stock/location/", {"name": f"Goods in {RUN}"})
    part = admin.post(
        "part/", {"name": name, "minimum_stock": 10, "purchaseable": True, "component": True}
    )
    star(env.users["alice"], "part", part["pk"])
    sku = admin.post(
        "company/part/", {"part": part["pk"], "supplier": supplier["pk"], "SKU": f"B-{RUN}"}
    )
    env.setting("LOW_STOCK_COUNT_ON_ORDER", True)
    try:
        order = admin.post("order/po/", {"supplier": supplier["pk"]})
        line = admin.post(
            "order/po-line/", {"order": order["pk"], "part": sku["pk"], "quantity": 7}
        )
        admin.post(f"order/po/{order['pk']}/issue/", {})
        item = admin.post("stock/", {"part": part["pk"], "quantity": 3, "location": location["pk"]})
        item_pk = item[0]["pk"] if isinstance(item, list) else item["pk"]
        skipped = wait_for(lambda: env.log(name, "skipped"), 60)
        assert skipped, "the covered notice is in the delivery log as skipped"
        assert {row["last_error"] for row in skipped} == {"covered by open orders: 7 on order"}
        time.sleep(10)
        assert env.emails_about(f"Low stock: {name}")[alice] == 0
        assert env.emails_about("Low stock notification")[alice] == 0  # nor InvenTree's own
        admin.post("stock/remove/", {"items": [{"pk": item_pk, "quantity": 3}]})
        admin.post(
            f"order/po/{order['pk']}/receive/",
            {"items": [{"line_item": line["pk"], "quantity": 7}], "location": location["pk"]},
        )
        assert wait_for(lambda: env.emails_about(f"Low stock: {name}")[alice] >= 1, 90)
        time.sleep(10)
        print(f"\non order: skipped {len(skipped)}, announced after receipt; log reason ok")
        assert env.emails_about(f"Low stock: {name}")[alice] == 1
    finally:
        env.setting("LOW_STOCK_COUNT_ON_ORDER", False)
