"""On time and few messages at the product's defaults (issue 15, points 1 and 2).

Everything here runs at the defaults: the default ``Dispatcher`` and ``RetryPolicy``, a
grouping interval of 60 s, the channels' real rate limits, routing's default email frequency.
A drain loop runs as InvenTree's worker runs it (a drain task of 20 s that waits for work due
soon, then the next drain when the rest is due). Time is a simulated clock handed to the
dispatcher, so a run that spans minutes of outbox time takes a second or two; the stand-ins
are real loopback servers, and what the tests count is what arrived at them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from inventree_notify_plus.channels import DiscordChannel, EmailChannel, RenderContext, SlackChannel
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.received import discord_titles, email_titles, slack_titles
from inventree_notify_plus.devtools.standins import Answer
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.config import Recipient, RoutingConfig
from inventree_notify_plus.routing.plan import PlannedDelivery, plan

from .conftest import directory as make_directory
from .conftest import low_stock

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
DRAIN_BUDGET = 20.0  # wakeup.DRAIN_BUDGET: what one drain task may spend


class SimulatedTime:
    """The dispatcher's clock and timer, and the notices that arrive meanwhile.

    ``sleep`` moves time on; notices due to arrive by then are enqueued (as InvenTree's web
    process would, while the worker waits).
    """

    def __init__(self) -> None:
        self.start = timezone.now()
        self.seconds = 0.0
        self.arrivals: list[tuple[float, Callable[[datetime], None]]] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def timer(self) -> float:
        return self.seconds

    def at(self, seconds: float, arrive: Callable[[datetime], None]) -> None:
        self.arrivals.append((seconds, arrive))
        self.arrivals.sort(key=lambda a: a[0])

    def sleep(self, seconds: float) -> None:
        self.seconds += max(0.0, seconds)
        self.arrive()

    def arrive(self) -> None:
        while self.arrivals and self.arrivals[0][0] <= self.seconds:
            _, arrival = self.arrivals.pop(0)
            arrival(self.now())

    def since_start(self, when: datetime) -> float:
        return (when - self.start).total_seconds()


def run_worker(time: SimulatedTime, make: Callable[[], Dispatcher], limit: float = 900) -> None:
    """Drain tasks one after the other until everything arrived and nothing is left."""
    while time.seconds < limit:
        time.arrive()
        dispatcher = make()
        dispatcher.clock, dispatcher.timer = time.now, time.timer
        report = dispatcher.drain(budget_seconds=DRAIN_BUDGET, sleep=time.sleep)
        busy = Delivery.objects.filter(status__in=["pending", "sending"]).exists()
        if not busy and not time.arrivals:
            return
        wakes = [time.arrivals[0][0] - time.seconds] if time.arrivals else []
        if report.next_due is not None:  # wakeup.wake_at: a drain when the rest is due
            wakes.append((report.next_due - time.now()).total_seconds())
        time.sleep(max(0.05, min(wakes)))
    raise AssertionError(f"still busy after {limit} s of outbox time")


def fault_script(standin) -> None:
    """429, 429 (Retry-After 1 s), 500, 500, 503: the anchor InvenTree's Slack method lost 5 of
    10 notices to."""
    limited = (
        Answer(429, "rate_limited", {"Retry-After": "1"})
        if standin.kind == "slack"
        else standin.rate_limit_answer(1.0)
    )
    standin.then(limited, limited, Answer(500, "internal_error"), Answer(500), Answer(503))


def test_the_fault_run_arrives_within_a_minute_at_the_defaults(slack, discord):
    """10 low parts in 4.5 s while Slack and Discord first answer 429, 429, 500, 500, 503.

    A failed attempt opens no grouping window: the retries go at their Retry-After and backoff,
    carrying what arrived meanwhile. Live at the old defaults: 0 of 10 after 120 s, all after
    336 s.
    """
    fault_script(slack)
    fault_script(discord)
    directory = make_directory(
        Destination("slack", "slack:default", slack.url, "slack"),
        Destination("discord", "discord:default", discord.url, "discord"),
    )
    plans = [
        PlannedDelivery("slack", "slack:default", "slack"),
        PlannedDelivery("discord", "discord:default", "discord"),
    ]
    time = SimulatedTime()
    attempts: list[tuple[str, float, int, str]] = []

    def channels():
        found = {"slack": SlackChannel(CONTEXT), "discord": DiscordChannel(CONTEXT)}
        for channel in found.values():
            send = channel.send

            def timed(destination, notices, mentions=(), send=send, kind=channel.kind):
                result = send(destination, notices, mentions)
                attempts.append((kind, time.seconds, len(notices), result.outcome))
                return result

            channel.send = timed
        return found

    for n in range(10):
        time.at(n * 0.5, lambda now, n=n: enqueue(low_stock(f"Part {n}", n), plans, now))
    run_worker(time, lambda: Dispatcher(directory, channels()))

    expected = Counter(f"Low stock: Part {n}" for n in range(10))
    assert Counter(t for body in slack.accepted for t in slack_titles(body)[0]) == expected
    assert Counter(t for body in discord.accepted for t in discord_titles(body)[0]) == expected
    assert slack.requests == len(slack.accepted) + 5
    assert discord.requests == len(discord.accepted) + 5
    first_tries = {kind: t for kind, t, _, _ in reversed(attempts)}
    assert first_tries == {"slack": 0.0, "discord": 0.0}  # the first notice went at once
    sent = Delivery.objects.values_list("channel", "sent_at")
    last = {kind: max(time.since_start(at) for k, at in sent if k == kind) for kind in first_tries}
    print(
        f"\nfault run at the defaults: last of 10 on Slack after {last['slack']:.1f} s, on "
        f"Discord after {last['discord']:.1f} s; attempts {attempts}"
    )
    assert max(last.values()) < 60.0
    assert Delivery.objects.filter(status="sent").count() == 20


def test_a_single_notice_goes_at_once_and_the_next_ones_wait_for_one_digest(slack, discord, smtp):
    """The first notice to each destination goes at once, on every channel; notices within the
    grouping interval after it go together when it ends."""
    directory = make_directory(
        Destination("slack", "slack:default", slack.url, "slack"),
        Destination("discord", "discord:default", discord.url, "discord"),
        Destination("email", "email:user:1", "alice@example.com", "alice"),
    )
    people = [Recipient(1, name="alice", email="alice@example.com")]
    config = RoutingConfig(destinations=(), default_to=())
    time = SimulatedTime()
    channels = {
        "slack": SlackChannel(CONTEXT),
        "discord": DiscordChannel(CONTEXT),
        "email": EmailChannel(CONTEXT),
    }
    webhooks = [
        PlannedDelivery("slack", "slack:default", "slack"),
        PlannedDelivery("discord", "discord:default", "discord"),
    ]

    def arrive(n: int) -> Callable[[datetime], None]:
        def queue(now: datetime) -> None:
            notice = low_stock(f"Part {n}", n)
            enqueue(notice, [*webhooks, *plan(notice, people, config, now)], now)

        return queue

    d = Dispatcher(directory, channels)
    d.clock, d.timer = time.now, time.timer
    arrive(0)(time.now())
    d.run_once()
    assert [slack_titles(b)[0] for b in slack.accepted] == [["Low stock: Part 0"]]
    assert [discord_titles(b)[0] for b in discord.accepted] == [["Low stock: Part 0"]]
    assert [m["Subject"] for _, m in smtp.messages] == ["[Workshop] Low stock: Part 0"]
    for n in (1, 2, 3):
        time.at(5.0 * n, arrive(n))
    run_worker(time, lambda: Dispatcher(directory, channels))
    later = ["Low stock: Part 1", "Low stock: Part 2", "Low stock: Part 3"]
    assert [slack_titles(b)[0] for b in slack.accepted[1:]] == [later]
    assert [discord_titles(b)[0] for b in discord.accepted[1:]] == [later]
    assert [email_titles(m, "Workshop")[0] for _, m in smtp.messages[1:]] == [later]
    digest_at = {
        time.since_start(at)
        for at in Delivery.objects.exclude(title="Low stock: Part 0").values_list(
            "sent_at", flat=True
        )
    }
    assert all(60.0 <= at < 62.0 for at in digest_at)  # when the window after Part 0 ended


def test_thirty_low_parts_in_a_row_are_at_most_three_emails_each(smtp):
    """30 parts dropping low in 24 s to two subscribers at the default email frequency.

    Live before: one subscriber got 30 emails. Now the first goes at once and the rest follow as
    one digest when the grouping interval after it ends; every part is named, none twice.
    """
    people = [
        Recipient(1, name="alice", email="alice@example.com"),
        Recipient(2, name="bob", email="bob@example.com"),
    ]
    assert {p.email_mode for p in people} == {"immediate"}  # the default frequency
    directory = make_directory(
        Destination("email", "email:user:1", "alice@example.com", "alice"),
        Destination("email", "email:user:2", "bob@example.com", "bob"),
    )
    config = RoutingConfig()
    time = SimulatedTime()

    def arrive(n: int) -> Callable[[datetime], None]:
        def queue(now: datetime) -> None:
            notice = low_stock(f"Part {n:02d}", n)
            enqueue(notice, plan(notice, people, config, now), now)

        return queue

    for n in range(30):
        time.at(n * 0.8, arrive(n))
    run_worker(time, lambda: Dispatcher(directory, {"email": EmailChannel(CONTEXT)}))

    for person in people:
        mails = smtp.to(person.email)
        named = Counter(t for mail in mails for t in email_titles(mail, "Workshop")[0])
        assert named == Counter(f"Low stock: Part {n:02d}" for n in range(30))
        assert len(mails) <= 3
        print(
            f"\n{person.name}: {len(mails)} emails for 30 parts: "
            f"{[len(email_titles(m, 'Workshop')[0]) for m in mails]} notices each"
        )
    first = smtp.messages[0][1]
    assert first["Subject"] == "[Workshop] Low stock: Part 00"  # the first goes at once
    assert Delivery.objects.filter(status="sent").count() == 60
    assert len(smtp.peers) <= 3  # still batched: both subscribers' mails share a connection


def test_a_failed_email_is_retried_with_what_arrived_meanwhile(smtp):
    """SMTP 451 for the first email: the retry goes at its backoff (seconds), not after the
    grouping interval, and carries the notice queued meanwhile."""
    smtp.refuse("alice@example.com", "451 4.3.0 Try later")
    people = [Recipient(1, name="alice", email="alice@example.com")]
    directory = make_directory(Destination("email", "email:user:1", "alice@example.com", "al"))
    time = SimulatedTime()

    def arrive(n: int) -> Callable[[datetime], None]:
        def queue(now: datetime) -> None:
            notice = low_stock(f"Part {n}", n)
            enqueue(notice, plan(notice, people, RoutingConfig(), now), now)

        return queue

    time.at(0.0, arrive(0))
    time.at(0.5, arrive(1))
    run_worker(time, lambda: Dispatcher(directory, {"email": EmailChannel(CONTEXT)}))
    mails = smtp.to("alice@example.com")
    assert [email_titles(m, "Workshop")[0] for m in mails] == [
        ["Low stock: Part 0", "Low stock: Part 1"]
    ]
    sent_at = {time.since_start(at) for at in Delivery.objects.values_list("sent_at", flat=True)}
    assert len(sent_at) == 1 and sent_at.pop() < 5.0  # backoff after the first attempt: 1-2 s
