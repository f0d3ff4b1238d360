"""Ring 3: a low part routed to two Apprise destinations arrives once at each (issue 18).

Against a live InvenTree server + worker with Notify Plus at its defaults; only the settings this
test is about are set: ``APPRISE_URLS`` (an ntfy and a Mattermost stand-in on loopback, through
Apprise's real ntfy and Mattermost plugins) and a route sending the test's part category there.

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8140 NOTIFY_PLUS_E2E_PASSWORD=... \\
    NOTIFY_PLUS_E2E_APPRISE_PORT=8147 NOTIFY_PLUS_E2E_SMTP_PORT=8145 \\
    pytest tests/e2e/test_apprise_live.py -s -p no:django -o addopts=""

The server and worker need ``INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS=127.0.0.1`` (plain http to the
stand-ins). Skipped when no InvenTree is given (a failure under ``CI=true``).
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")
# ntfy on this port, Mattermost on the next one (a helper's lab: its port + 7 and + 8).
APPRISE_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_APPRISE_PORT", "9107"))
SMTP_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SMTP_PORT", "8025"))
RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def lab():
    from inventree.api import InvenTreeAPI

    from inventree_notify_plus.devtools.standins import AppriseStandIn, SmtpStandIn

    admin = InvenTreeAPI(
        URL,
        username=os.environ.get("NOTIFY_PLUS_E2E_USER", "admin"),
        password=os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree"),
    )

    def setting(key: str, value) -> None:
        admin.patch(f"plugins/notify-plus/settings/{key}/", {"value": value})

    with (
        AppriseStandIn("ntfy", port=APPRISE_PORT) as ntfy,
        AppriseStandIn("mattermost", port=APPRISE_PORT + 1) as mattermost,
        SmtpStandIn(port=SMTP_PORT),
    ):
        before = admin.get("plugins/notify-plus/settings/ROUTES/")["value"]
        setting("APPRISE_URLS", f"phones={ntfy.url} ops={mattermost.url}")
        try:
            yield admin, setting, ntfy, mattermost
        finally:
            setting("ROUTES", before or "")
            setting("APPRISE_URLS", "")


def test_low_part_arrives_once_at_ntfy_and_once_at_mattermost(lab):
    from inventree.part import Part, PartCategory
    from inventree.stock import StockItem

    admin, setting, ntfy, mattermost = lab
    category = PartCategory.create(admin, {"name": f"Apprise {RUN}"})
    setting(
        "ROUTES",
        json.dumps([{"part_category": [category.pk], "to": ["apprise:phones", "apprise:ops"]}]),
    )
    name = f"Hex nut @here *M4* {RUN}"
    part = Part.create(
        admin, {"name": name, "category": category.pk, "minimum_stock": 10, "component": True}
    )
    admin.patch(f"part/{part.pk}/", {"starred": True})
    StockItem.create(admin, {"part": part.pk, "quantity": 3})

    def about(standin) -> list[str]:
        return [b for b in standin.bodies() + standin.titles() if RUN in b]

    wait_for(lambda: about(ntfy) and about(mattermost), seconds=90)
    time.sleep(10)  # a duplicate would have time to arrive
    at_ntfy = [t for t in ntfy.titles() if RUN in t]
    at_mattermost = [b for b in mattermost.bodies() if RUN in b]
    print(f"\napprise: ntfy {at_ntfy}, mattermost {len(at_mattermost)} message(s)")
    assert len(at_ntfy) == 1 and at_ntfy[0].startswith("Low stock: Hex nut")
    assert len(at_mattermost) == 1
    # The name is data: the mention defused (a zero-width space after '@').
    assert "@here" not in at_ntfy[0] and "@here" not in at_mattermost[0]
    assert f"/part/{part.pk}" in at_mattermost[0]  # the link to the part
