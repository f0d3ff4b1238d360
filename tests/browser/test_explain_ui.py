"""Ring 4, issue 17 part 5: the Why? panel in the admin console and the part panel's link.

Same environment as ``test_web_ui.py`` (its lab, browser and sessions are reused):

    NOTIFY_PLUS_UI_URL=http://127.0.0.1:8000 NOTIFY_PLUS_UI_PASSWORD=... \\
      NOTIFY_PLUS_UI_PORTS=9201,9202,9203,9225 python -m pytest tests/browser/test_explain_ui.py

A plain user stars a part that then goes low; the admin picks that user and part in *Why?* and
reads the timeline; the user opens *Why didn't I hear about this?* on the part's panel.
Screenshots: ui-why.png and ui-why-panel.png (``NOTIFY_PLUS_UI_SHOTS``).
"""

from __future__ import annotations

import re

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_UI_URL", "ring 4")  # skips without one; fails under CI=true

from tests.browser.test_web_ui import (  # noqa: E402
    PASSWORD,
    RUN,
    SECRET,
    admin,
    browser,
    lab,
    open_admin_console,
    plain,
    screenshot_on_failure,
)

__all__ = ["admin", "browser", "lab", "plain", "screenshot_on_failure"]  # fixtures, reused
NAME = f"UI why nut {RUN}"


@pytest.fixture(scope="module")
def low_part(lab):
    """A part the plain user stars, then low on stock: its notice sent (email to the user)."""
    from inventree.api import InvenTreeAPI

    part = lab.admin.post(
        "part/", {"name": NAME, "category": lab.category["pk"], "minimum_stock": 10}
    )
    me = InvenTreeAPI(URL, username=lab.plain_user, password=PASSWORD)
    me.patch(f"part/{part['pk']}/", {"starred": True})
    lab.admin.post("stock/", {"part": part["pk"], "location": lab.store["pk"], "quantity": 2})

    def emailed() -> bool:
        return any(NAME in str(m["Subject"]) for _rcpts, m in list(lab.smtp.messages))

    assert wait_for(emailed), "the plain user's email did not arrive"
    return part


def test_why_in_the_admin_console_shows_the_users_timeline(admin, lab, low_part):
    open_admin_console(admin)
    page = admin.page
    why = page.get_by_test_id("np-why")
    why.scroll_into_view_if_needed()
    why.get_by_role("button", name="Part…").click()
    user = page.get_by_label("related-field-user")
    user.fill(lab.plain_user)
    page.get_by_role("option").filter(has_text=lab.plain_user).first.click()
    part = page.get_by_label("related-field-part")
    part.fill(NAME)
    page.get_by_role("option").filter(has_text=NAME).first.click()
    page.get_by_role("button", name="Explain", exact=True).click()
    answer = page.get_by_test_id("np-why-answer")
    answer.get_by_text(f"Low stock: {NAME}").first.wait_for()
    answer.get_by_text("through this part").wait_for()
    answer.get_by_text("Their email was sent").wait_for()
    timeline = page.get_by_test_id("np-why-timeline")
    timeline.get_by_text(re.compile(r"^email notice to .* \(this user\)$")).wait_for()
    timeline.get_by_text(re.compile(r"^slack notice to ")).first.wait_for()
    admin.shot("why", why)
    assert not any(SECRET in body for body in admin.bodies)


def test_the_part_panel_link_opens_my_own_timeline(plain, lab, low_part):
    page = plain.page
    page.goto(f"{URL}/web/part/{low_part['pk']}/", wait_until="domcontentloaded")
    page.get_by_role("tab", name=re.compile("Notifications")).click()
    page.get_by_test_id("np-why-link").click()
    answer = page.get_by_role("dialog").get_by_test_id("np-why-answer")
    answer.get_by_text(f"Low stock: {NAME}").first.wait_for()
    answer.get_by_text(lab.plain_user).first.wait_for()
    answer.get_by_text("through this part").wait_for()
    plain.shot("why-panel", page.get_by_role("dialog"))
    assert not any(SECRET in body for body in plain.bodies)
