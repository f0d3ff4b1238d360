"""Ring 4: the console's 'Generate secret' for signed webhooks, and a test send that verifies.

The admin generates the secret in the browser; the loopback receiver then verifies the test
webhook with exactly the secret the page showed (``standardwebhooks``). Needs what
``test_web_ui`` needs, and a free port for the receiver (``NOTIFY_PLUS_UI_WEBHOOK_PORT``):

    NOTIFY_PLUS_UI_URL=http://127.0.0.1:8150 NOTIFY_PLUS_UI_PASSWORD=admin123 \\
    NOTIFY_PLUS_UI_PORTS=8151,8152,8153,8155 NOTIFY_PLUS_UI_WEBHOOK_PORT=8157 \\
    pytest tests/browser/test_webhooks_ui.py
"""

from __future__ import annotations

import os
import re

import pytest

from tests.browser.test_web_ui import (  # noqa: F401 - the fixtures are used by name
    SESSIONS,
    admin,
    browser,
    lab,
    open_admin_console,
    screenshot_on_failure,
)

WEBHOOK_PORT = int(os.environ.get("NOTIFY_PLUS_UI_WEBHOOK_PORT", "9207"))
PLACEHOLDER = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # replaced by the generated one


@pytest.fixture(scope="module")
def receiver(lab):  # noqa: F811 - the imported fixture
    from inventree_notify_plus.devtools.webhook_standin import SignedWebhookStandIn

    with SignedWebhookStandIn(PLACEHOLDER, port=WEBHOOK_PORT) as hook:
        lab.setting("WEBHOOK_URLS", f"uihook={hook.url}")
        try:
            yield hook
        finally:
            lab.setting("WEBHOOK_URLS", "")


def test_generated_secret_is_shown_once_and_signs_the_test_webhook(admin, receiver):  # noqa: F811
    page = admin.page
    open_admin_console(admin)
    destinations = page.get_by_test_id("np-destinations")
    destinations.get_by_text("webhook:uihook", exact=True).wait_for()
    box = page.get_by_test_id("np-webhook-secret")
    button = box.get_by_role("button", name=re.compile("Generate secret|Replace secret"))
    button.wait_for()
    if button.inner_text().startswith("Replace"):
        button.click()  # the first click only asks
        box.get_by_role("button", name="Click again to replace it").click()
    else:
        button.click()
    shown = page.get_by_test_id("np-webhook-secret-value")
    shown.wait_for()
    secret = shown.inner_text().strip()
    assert secret.startswith("whsec_")
    receiver.use_secret(secret)

    destinations.get_by_role("button", name="Send test webhook:uihook").click()
    answer = page.get_by_test_id("np-answer-webhook-uihook")
    answer.wait_for()
    assert answer.inner_text().startswith("sent (HTTP 204)"), answer.inner_text()
    assert receiver.failed == [] and len(receiver.accepted) == 1
    assert receiver.accepted[0].json()["title"] == "Notify Plus test message"

    # Shown once: a fresh console says 'set' and never shows it again.
    open_admin_console(admin)
    page.get_by_test_id("np-webhook-secret").get_by_text("Webhook signing secret: set").wait_for()
    assert secret.removeprefix("whsec_") not in page.content()
