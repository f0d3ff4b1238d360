"""Email threads: every email has a stable Message-ID; a recovery replies to its announcement.

What a mail client sees: one thread per episode (the low-stock email, then its recovery under
it), each person's recovery threaded to the email *they* got, and a digest threaded with nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from inventree_notify_plus.channels.base import Destination, Outcome
from inventree_notify_plus.channels.email_threading import domain_of
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.notice import stable_uid
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.plan import PlannedDelivery

from .conftest import directory as make_directory
from .conftest import low_stock

EPISODE = "low_stock:part:7@2026-12-01T10:00:00+00:00"
ALICE = Destination("email", "email:user:1", "alice@example.com", "alice")
BOB = Destination("email", "email:user:2", "bob@example.com", "bob")


def firing(name: str = "M3 screw", n: int = 7, episode: str = EPISODE):
    return replace(low_stock(name, n), episode=episode)


def recovery(name: str = "M3 screw", n: int = 7, episode: str = EPISODE):
    return replace(
        low_stock(name, n),
        uid=stable_uid("recovered", name, n, episode),
        category="notify_plus.low_stock_recovered",
        title=f"Stock recovered: {name}",
        episode=episode,
        state="resolved",
    )


def plan(destination: Destination) -> PlannedDelivery:
    return PlannedDelivery("email", destination.key, destination.label, groupable=False)


def drain(channels, *destinations: Destination) -> None:
    policy = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=3)
    Dispatcher(
        make_directory(*destinations), channels, policy=policy, group_interval=timedelta(0)
    ).drain(budget_seconds=5)


def test_message_id_is_stable_for_a_message_and_unique_across_messages(smtp, channels):
    email = channels["email"]
    first = email.send(ALICE, [firing()])
    again = email.send(ALICE, [firing()])  # a retry of the same message
    to_bob = email.send(BOB, [firing()])
    other = email.send(ALICE, [firing("M4 nut", 8)])
    assert first.outcome == Outcome.SENT
    ids = [message["Message-ID"] for _, message in smtp.messages]
    assert ids == [first.external_id, again.external_id, to_bob.external_id, other.external_id]
    assert ids[0] == ids[1]
    assert len({ids[0], ids[2], ids[3]}) == 3
    assert ids[0].startswith("<notify-plus.") and ids[0].endswith("@inventree.local>")
    assert all(message["In-Reply-To"] is None for _, message in smtp.messages)


@pytest.mark.django_db(transaction=True)
def test_recovery_replies_to_the_email_that_announced_the_episode_to_that_person(smtp, channels):
    enqueue(firing(), [plan(ALICE), plan(BOB)])
    drain(channels, ALICE, BOB)
    announced = {rcpts[0]: message["Message-ID"] for rcpts, message in smtp.messages}
    kept = dict(Delivery.objects.values_list("destination", "external_id"))
    assert kept == {
        "email:user:1": announced[ALICE.address],
        "email:user:2": announced[BOB.address],
    }

    enqueue(recovery(), [plan(ALICE), plan(BOB)])
    drain(channels, ALICE, BOB)
    assert len(smtp.messages) == 4
    for rcpts, message in smtp.messages[2:]:
        assert message["Subject"] == "[Workshop] Stock recovered: M3 screw"
        assert message["In-Reply-To"] == announced[rcpts[0]]
        assert message["References"] == announced[rcpts[0]]
        assert message["Message-ID"] not in announced.values()


@pytest.mark.django_db(transaction=True)
def test_recovery_of_another_episode_does_not_join_the_old_thread(smtp, channels):
    enqueue(firing(), [plan(ALICE)])
    drain(channels, ALICE)
    later = "low_stock:part:7@2026-12-02T10:00:00+00:00"
    enqueue(recovery(episode=later), [plan(ALICE)])
    drain(channels, ALICE)
    assert [m["In-Reply-To"] for _, m in smtp.messages] == [None, None]


@pytest.mark.django_db(transaction=True)
def test_a_digest_threads_with_nothing(smtp, channels):
    enqueue(firing(), [plan(ALICE)])
    drain(channels, ALICE)
    result = channels["email"].send(ALICE, [recovery(), firing("M4 nut", 8, episode="")])
    digest = smtp.messages[-1][1]
    assert digest["Subject"].startswith("[Workshop] 2 notifications")
    assert digest["In-Reply-To"] is None and digest["References"] is None
    assert digest["Message-ID"] == result.external_id


def test_message_id_domain_is_the_sites_host_and_never_header_text():
    assert domain_of("http://inventree.example.com:8000/web/") == "inventree.example.com"
    for odd in ("", "not a url", "http://bad host\r\nBcc: x@example.com/"):
        assert re.fullmatch(r"[A-Za-z0-9.-]+", domain_of(odd))
