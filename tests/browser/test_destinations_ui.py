"""Ring 4: adding an Apprise destination in the admin console, in a real browser (issue 18).

The *Add destination* form checks the URL as the admin types (a bad one shows Apprise's
problem, a good one is accepted), saves it into ``APPRISE_URLS``, lists it masked, and *Send test*
shows the ntfy stand-in's answer. Same set-up as ``test_web_ui.py``:

    NOTIFY_PLUS_UI_URL=http://127.0.0.1:8140 NOTIFY_PLUS_UI_PASSWORD=... \\
    NOTIFY_PLUS_UI_APPRISE_PORT=8147 pytest tests/browser/test_destinations_ui.py -s
"""

from __future__ import annotations

import os

import pytest

from tests.browser.test_web_ui import (  # noqa: F401 - fixtures shared with the main UI test
    RUN,
    Session,
    browser,
    open_admin_console,
    screenshot_on_failure,
)

APPRISE_PORT = int(os.environ.get("NOTIFY_PLUS_UI_APPRISE_PORT", "9207"))


@pytest.fixture(scope="module")
def ntfy():
    from inventree.api import InvenTreeAPI

    from inventree_notify_plus.devtools.standins import AppriseStandIn
    from tests.browser.test_web_ui import URL

    user = os.environ.get("NOTIFY_PLUS_UI_USER", "admin")
    password = os.environ.get("NOTIFY_PLUS_UI_PASSWORD", "inventree")
    api = InvenTreeAPI(URL, username=user, password=password)
    api.patch("plugins/notify-plus/settings/APPRISE_URLS/", {"value": ""})
    with AppriseStandIn("ntfy", port=APPRISE_PORT) as standin:
        standin.login = (user, password)
        yield standin
    api.patch("plugins/notify-plus/settings/APPRISE_URLS/", {"value": ""})


def test_add_an_apprise_destination_then_send_a_test(browser, ntfy):  # noqa: F811
    admin = Session(browser, *ntfy.login)
    try:
        open_admin_console(admin)
        page = admin.page
        form = page.get_by_test_id("np-add-destination")
        name = f"phones{RUN}"
        form.get_by_label("Destination name").fill(name)
        form.get_by_label("Destination URL").fill("mmost://")
        form.get_by_text("could not read this 'mmost://' URL").wait_for()
        assert form.get_by_role("button", name="Save destination").is_disabled()

        form.get_by_label("Destination URL").fill(ntfy.url)
        form.get_by_test_id("np-add-valid").wait_for()
        form.get_by_role("button", name="Save destination").click()
        saved = form.get_by_test_id("np-add-saved")
        saved.wait_for()
        assert saved.inner_text().startswith(f"Added apprise:{name} (ntfy://127.0.0.1:")

        destinations = page.get_by_test_id("np-destinations")
        destinations.get_by_text(f"apprise:{name}", exact=True).wait_for()
        destinations.get_by_role("button", name=f"Send test apprise:{name}").click()
        answer = page.get_by_test_id(f"np-answer-apprise-{name}")
        answer.wait_for()
        assert answer.inner_text().startswith("sent (HTTP 200): ntfy: SUCCESS"), answer.inner_text()
        assert ntfy.titles() == ["Notify Plus test message"]
        assert ntfy.TOKEN not in page.content()
        assert not [body for body in admin.bodies if ntfy.TOKEN in body]
    finally:
        admin.close()
