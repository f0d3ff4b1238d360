"""Ring 4: silences and snoozes in a real browser (issue 19).

A silence created and expired in the admin console; a snooze link from an email confirmed in
the browser and shown, then lifted, in 'My notifications'. Same set-up as ``test_web_ui``
(its fixtures, stand-ins and sign-in), run the same way:

    NOTIFY_PLUS_UI_URL=http://127.0.0.1:8000 NOTIFY_PLUS_UI_PASSWORD=... \\
      pytest tests/browser/test_silences_ui.py
"""

from __future__ import annotations

import re

from tests.browser import test_web_ui as web
from tests.support.live import wait_for

API = "/plugin/notify-plus/"
PASSWORD, RUN, URL, open_admin_console = web.PASSWORD, web.RUN, web.URL, web.open_admin_console
# test_web_ui's fixtures (stand-ins, the admin's and a plain user's browser tabs), shared
browser, lab, admin, plain = web.browser, web.lab, web.admin, web.plain
screenshot_on_failure = web.screenshot_on_failure


def test_a_silence_created_and_expired_in_the_console(admin, lab):
    open_admin_console(admin)
    page = admin.page
    section = page.get_by_test_id("np-silences")
    section.get_by_role("heading", name="Silences").wait_for()
    page.get_by_test_id("np-silence-new").click()
    # InvenTree's own form modal, with its tree picker for the part category
    tree = page.get_by_label("tree-field-part_category")
    tree.click()
    tree.fill(lab.category["name"])
    page.get_by_role("option").filter(has_text=lab.category["name"]).first.click()
    page.get_by_label("text-field-comment").fill(f"stocktake {RUN}")
    page.get_by_role("button", name="Silence", exact=True).click()

    row = section.locator("tr").filter(has_text=f"stocktake {RUN}")
    row.get_by_text("active").wait_for()
    row.get_by_text(lab.category["name"]).wait_for()
    listed = lab.admin.get(f"{URL}{API}silences/")
    mine = [s for s in listed["active"] if s["comment"] == f"stocktake {RUN}"]
    assert len(mine) == 1 and mine[0]["part_category"] == lab.category["pk"]
    admin.shot("silences", section)

    row.get_by_role("button", name="Expire").click()
    row.get_by_text("expired").wait_for()
    listed = lab.admin.get(f"{URL}{API}silences/")
    assert mine[0]["id"] in [s["id"] for s in listed["expired"]]


def test_a_snooze_confirmed_in_the_browser_and_lifted_in_my_notifications(plain, lab):
    from inventree.api import InvenTreeAPI

    me = InvenTreeAPI(URL, username=lab.plain_user, password=PASSWORD)
    part = lab.admin.post(
        "part/",
        {"name": f"UI snooze {RUN}", "category": lab.category["pk"], "minimum_stock": 10},
    )
    me.patch(f"part/{part['pk']}/", {"starred": True})
    lab.admin.post("stock/", {"part": part["pk"], "quantity": 2})
    address = f"{lab.plain_user}@example.com"

    def link() -> str | None:
        for rcpts, message in list(lab.smtp.messages):
            if address in rcpts and f"UI snooze {RUN}" in str(message["Subject"]):
                for piece in message.walk():
                    if piece.get_content_type() == "text/plain":
                        text = piece.get_payload(decode=True).decode()
                        found = re.search(r"Snooze 1 week: (\S+)", text)
                        return found.group(1) if found else None
        return None

    url = wait_for(link)
    assert url and url.startswith(f"{URL}{API}snooze/"), url
    page = plain.page
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(f"UI snooze {RUN}").first.wait_for()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Snoozed").wait_for()
    plain.shot("snooze-confirmed")
    page.goto(url, wait_until="domcontentloaded")  # the same link again: refused, not a 500
    page.get_by_text("already been used").wait_for()

    page.goto(URL + "/web/settings/user/", wait_until="domcontentloaded")
    page.get_by_role("tab", name=re.compile("My notifications")).click()
    snoozes = page.get_by_test_id("np-snoozes")
    entry = snoozes.get_by_text(f"Low stock: UI snooze {RUN}")
    entry.wait_for()
    snoozes.get_by_role("button", name="Lift").click()  # the user's only snooze
    wait_for(lambda: not snoozes.get_by_text(f"UI snooze {RUN}").count(), 20, 0.5)
    assert me.get(f"{URL}{API}snoozes/")["snoozes"] == []
