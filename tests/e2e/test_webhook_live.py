"""Ring 3: a signed webhook from a live InvenTree, verified by a Standard Webhooks receiver.

The receiver (``SignedWebhookStandIn``) runs here on 127.0.0.1 and verifies every request with
``standardwebhooks``; the secret is generated through the console's endpoint, as an admin would.
Only the webhook settings (this test's subject) are changed; everything else stays at defaults.

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8150 NOTIFY_PLUS_E2E_PASSWORD=admin123 \\
    NOTIFY_PLUS_E2E_WEBHOOK_PORT=8157 pytest tests/e2e/test_webhook_live.py -s -p no:django

The server and worker need ``INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS`` to name 127.0.0.1 (http).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import requests

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true
WEBHOOK_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_WEBHOOK_PORT", "9107"))
RUN = uuid.uuid4().hex[:6]
PASSWORD = f"Np-e2e-{uuid.uuid4().hex}"
ADMIN = os.environ.get("NOTIFY_PLUS_E2E_USER", "admin")
ADMIN_PASSWORD = os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree")


def token() -> str:
    answer = requests.get(f"{URL}/api/user/token/", auth=(ADMIN, ADMIN_PASSWORD), timeout=10)
    return answer.json()["token"]


@pytest.fixture(scope="module")
def admin():
    from inventree.api import InvenTreeAPI

    return InvenTreeAPI(URL, username=ADMIN, password=ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def receiver(admin):
    """The receiver, the secret the console generated for it, and the webhook setting."""
    headers = {"Authorization": f"Token {token()}"}
    answer = requests.post(
        f"{URL}/plugin/notify-plus/admin/webhook-secret/", headers=headers, timeout=10
    )
    assert answer.status_code == 201, answer.text
    secret = answer.json()["secret"]
    from inventree_notify_plus.devtools.webhook_standin import SignedWebhookStandIn

    with SignedWebhookStandIn(secret, port=WEBHOOK_PORT) as hook:
        admin.patch("plugins/notify-plus/settings/WEBHOOK_URLS/", {"value": f"default={hook.url}"})
        try:
            yield hook
        finally:
            admin.patch("plugins/notify-plus/settings/WEBHOOK_URLS/", {"value": ""})


def make_user(admin, name: str, group: int):
    from inventree.api import InvenTreeAPI

    username = f"{name}-hook-{RUN}"
    created = admin.post(
        "user/",
        {
            "username": username,
            "first_name": name.title(),
            "last_name": "Tester",
            "email": f"{username}@example.com",
        },
    )
    admin.patch(f"user/{created['pk']}/", {"group_ids": [group]})
    admin.put(
        f"user/{created['pk']}/set-password/", {"password": PASSWORD, "override_warning": True}
    )
    return username, InvenTreeAPI(URL, username=username, password=PASSWORD)


def test_a_low_part_reaches_the_receiver_once_signed_with_its_subscribers(admin, receiver):
    from inventree.part import Part, PartCategory
    from inventree.stock import StockItem

    group = admin.post("user/group/", {"name": f"np-hook-{RUN}"})
    for ruleset in admin.get("user/ruleset/", params={"group": group["pk"]}):
        if ruleset["name"] in ("part", "part_category", "stock", "stock_location"):
            admin.patch(f"user/ruleset/{ruleset['pk']}/", {"can_view": True, "can_change": True})
    alice, alice_api = make_user(admin, "alice", group["pk"])
    bob, bob_api = make_user(admin, "bob", group["pk"])
    category = PartCategory.create(admin, {"name": f"Hooks {RUN}"})
    name = f"Hook bolt {RUN}"
    part = Part.create(
        admin, {"name": name, "category": category.pk, "minimum_stock": 10, "component": True}
    )
    alice_api.patch(f"part/{part.pk}/", {"starred": True})
    bob_api.patch(f"part/category/{category.pk}/", {"starred": True})
    StockItem.create(admin, {"part": part.pk, "quantity": 3})

    def about() -> list:
        return [r for r in receiver.accepted if name in r.json().get("title", "")]

    wait_for(about, seconds=120)
    time.sleep(10)  # a duplicate would have time to arrive
    arrived = about()
    print(f"\nwebhook: {len(arrived)} accepted, {len(receiver.failed)} failed verification")
    assert receiver.failed == []  # every request the receiver got verified
    assert len(arrived) == 1
    body = arrived[0].json()
    assert body["version"] == 1 and body["type"] == "notice.firing"
    assert body["category"] == "part.notify_low_stock"
    assert body["object"]["type"] == "part" and body["object"]["pk"] == part.pk
    assert f"/part/{part.pk}" in (body["object"]["url"] or "")
    assert {alice, bob} <= set(body["recipients"])
    assert body["episode"]["state"] == "firing"
    assert arrived[0].webhook_id.startswith("msg_")
