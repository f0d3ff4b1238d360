"""Ring 3, timing: retries on time, and latency beside InvenTree's own Slack method.

Runs against a live InvenTree like ``test_live_inventree.py`` (same environment variables;
run this file on its own: it makes its own users). It prints the figures the README quotes;
its assertions are about what arrived, how often (never how fast: no timed tests).

    NOTIFY_PLUS_E2E_URL=http://127.0.0.1:8000 NOTIFY_PLUS_E2E_USER=admin \\
    NOTIFY_PLUS_E2E_PASSWORD=... pytest tests/e2e/test_scale_live.py -s

Needs what ``test_live_inventree.py`` needs; the latency run also activates InvenTree's
built-in Slack method (``inventree-slack-notification``) with its URL set to a stand-in, and
turns it off again at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections import Counter

import pytest

from tests.support.live import live_url, wait_for

URL = live_url("NOTIFY_PLUS_E2E_URL", "ring 3")  # skips without one; fails under CI=true

SLACK_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_SLACK_PORT", "9101"))
DISCORD_PORT = int(os.environ.get("NOTIFY_PLUS_E2E_DISCORD_PORT", "9102"))
CORE_SLACK_PORT = SLACK_PORT + 2
RUN = uuid.uuid4().hex[:6]
CORE_SLACK = "inventree-slack-notification"


class Timed:
    """The admin API and the stand-ins; when each message about a part arrived."""

    def __init__(self, slack, discord, core_slack) -> None:
        from inventree.api import InvenTreeAPI

        self.slack, self.discord, self.core_slack = slack, discord, core_slack
        self.admin = InvenTreeAPI(
            URL,
            username=os.environ.get("NOTIFY_PLUS_E2E_USER", "admin"),
            password=os.environ.get("NOTIFY_PLUS_E2E_PASSWORD", "inventree"),
        )

    def setting(self, key: str, value, plugin: str = "notify-plus") -> None:
        self.admin.patch(f"plugins/{plugin}/settings/{key}/", {"value": value})

    def arrivals(self, standin, names: list[str], titles=None) -> dict[str, list[float]]:
        """Monotonic arrival times of messages naming each of ``names``."""
        found: dict[str, list[float]] = {name: [] for name in names}
        for body, at in zip(list(standin.accepted), list(standin.accepted_at), strict=False):
            texts = titles(body)[0] if titles else [json.dumps(body, ensure_ascii=False)]
            for name in names:
                if any(text.endswith(name) if titles else name in text for text in texts):
                    found[name].append(at)
        return found

    def category(self):
        from inventree.part import PartCategory

        return PartCategory.create(self.admin, {"name": f"Timing {RUN} {uuid.uuid4().hex[:4]}"})

    def low_part(self, category, name: str):
        """A part with a minimum stock of 10; the caller drops stock below it."""
        from inventree.part import Part

        return Part.create(
            self.admin,
            {"name": name, "category": category.pk, "minimum_stock": 10, "component": True},
        )

    def drop(self, part) -> float:
        from inventree.stock import StockItem

        at = time.monotonic()
        StockItem.create(self.admin, {"part": part.pk, "quantity": 3})
        return at


@pytest.fixture(scope="module")
def timed():
    from inventree_notify_plus.devtools.standins import WebhookStandIn

    with (
        WebhookStandIn("slack", port=SLACK_PORT) as slack,
        WebhookStandIn("discord", port=DISCORD_PORT) as discord,
        WebhookStandIn("slack", port=CORE_SLACK_PORT) as core_slack,
    ):
        env = Timed(slack, discord, core_slack)
        env.setting("NOTIFICATIONS_ENABLE", True)
        env.setting("NOTIFICATIONS_LOW_STOCK", True)
        env.setting("SLACK_WEBHOOK_URL", slack.url)
        env.setting("DISCORD_WEBHOOK_URL", discord.url)
        yield env


def test_ten_low_parts_while_both_webhooks_fail_first_arrive_once(timed):
    """Each endpoint answers 429, 429, 500, 500, 503 (Retry-After 1 s) first (issue 8)."""
    from inventree_notify_plus.devtools.received import discord_titles, slack_titles
    from inventree_notify_plus.devtools.standins import Answer

    timed.slack.then(
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(500, "internal_error"),
        Answer(500, "internal_error"),
        Answer(503),
    )
    limited = {"message": "You are being rate limited.", "retry_after": 1.0, "global": False}
    timed.discord.then(
        Answer(429, limited, {"Retry-After": "1"}),
        Answer(429, limited, {"Retry-After": "1"}),
        Answer(500, {"message": "error"}),
        Answer(500, {"message": "error"}),
        Answer(503),
    )
    category = timed.category()
    names = [f"On-time part {n} {RUN}" for n in range(10)]
    parts = [timed.low_part(category, name) for name in names]
    first = None
    for part in parts:
        at = timed.drop(part)
        first = first if first is not None else at

    def arrived():
        return (
            timed.arrivals(timed.slack, names, slack_titles),
            timed.arrivals(timed.discord, names, discord_titles),
        )

    def complete() -> bool:
        return all(times for found in arrived() for times in found.values())

    wait_for(complete, seconds=240, step=0.5)
    slack, discord = arrived()
    for channel, found in (("Slack", slack), ("Discord", discord)):
        times = [min(v) for v in found.values() if v]
        last = max(times) - first if times else float("nan")
        print(
            f"\non time ({channel}): {len(times)}/10 parts announced, last {last:.1f} s after "
            f"the first drop; requests {(timed.slack if channel == 'Slack' else timed.discord).requests}"
        )
    assert Counter(len(v) for v in slack.values()) == Counter({1: 10})
    assert Counter(len(v) for v in discord.values()) == Counter({1: 10})


def test_latency_beside_inventrees_own_slack_method(timed):
    """Single low-stock events; time to each Slack stand-in, both methods in the same run.

    A single event is one that comes after a quiet spell: at the defaults, notices within the
    grouping interval after a message are a burst and go as one digest by design (the burst
    test measures those). So the events are spaced by the grouping interval as configured
    (read, not changed), and their number is small by default (each costs that interval).
    """
    from inventree_notify_plus.devtools.received import slack_titles

    events = int(os.environ.get("NOTIFY_PLUS_E2E_LATENCY_EVENTS", "4"))
    interval = float(timed.admin.get("plugins/notify-plus/settings/GROUP_INTERVAL/")["value"])
    timed.admin.patch(f"plugins/{CORE_SLACK}/activate/", {"active": True})
    timed.setting("NOTIFICATION_SLACK_URL", timed.core_slack.url, plugin=CORE_SLACK)
    ours: list[float] = []
    core: list[float] = []
    try:
        category = timed.category()
        quiet_since = max([0.0, *timed.slack.accepted_at])
        for n in range(events):
            name = f"Latency part {n} {RUN}"
            part = timed.low_part(category, name)
            time.sleep(max(0.0, quiet_since + interval + 1 - time.monotonic()))
            at = timed.drop(part)

            def both(name=name):
                return (
                    timed.arrivals(timed.slack, [name], slack_titles)[name],
                    timed.arrivals(timed.core_slack, [name])[name],
                )

            wait_for(lambda both=both: all(len(t) > 0 for t in both()), seconds=60, step=0.05)
            mine, theirs = both()
            if mine:
                ours.append(min(mine) - at)
                quiet_since = min(mine)
            if theirs:
                core.append(min(theirs) - at)
    finally:
        timed.admin.patch(f"plugins/{CORE_SLACK}/activate/", {"active": False})

    def quantiles(values: list[float]) -> str:
        if len(values) < 2:
            return f"n={len(values)}"
        cuts = statistics.quantiles(values, n=20)
        return f"p50 {statistics.median(values):.2f} s, p95 {cuts[18]:.2f} s (n={len(values)})"

    print(
        f"\nlatency, stock change -> Slack stand-in, {events} single events "
        f"(spaced by the grouping interval, {interval:.0f} s):"
    )
    print(f"  InvenTree's Slack method: {quantiles(core)}")
    print(f"  Notify Plus:              {quantiles(ours)}")
    assert len(ours) == events
