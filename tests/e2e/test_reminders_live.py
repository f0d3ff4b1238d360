"""Ring 3, issue 19 part 3: a part still low after REMIND_AFTER is reminded by email.

Against a live InvenTree server + worker (schedule integration on: the minutely sweep sends
reminders), like ``test_live_inventree.py``:

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_PASSWORD=... \\
      python -m pytest tests/e2e/test_reminders_live.py -s -p no:django -o addopts=""

``REMIND_AFTER`` is this test's subject: it is shortened to one minute for the test and put
back to its default (off) afterwards; every other setting stays at its default.
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


@pytest.fixture(scope="module")
def env():
    from inventree_notify_plus.devtools.standins import SmtpStandIn

    with SmtpStandIn(port=SMTP_PORT) as smtp:
        live = Live(None, None, smtp, None, None)
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
