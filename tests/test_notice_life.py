"""A notice's life on Discord: the message that announced a low part is edited to 'resolved'.

Through the outbox as installed: ``follow_up`` queues an update row, the dispatcher edits the
message the Discord stand-in holds (PATCH, nothing new posted), retries and failures recorded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from inventree_notify_plus.channels.base import (
    Channel,
    Destination,
    RateLimit,
    SendResult,
    SentMessage,
)
from inventree_notify_plus.channels.discord import RESOLVED_COLOUR
from inventree_notify_plus.devtools.standins import Answer
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.notice import Fact, Notice, Severity, stable_uid
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.outbox.updates import follow_up
from inventree_notify_plus.routing.plan import PlannedDelivery

from .conftest import directory as make_directory
from .conftest import low_stock

pytestmark = pytest.mark.django_db(transaction=True)

FAST = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=8)
KEY = "discord:default"
Kind = Delivery.Kind
Status = Delivery.Status


def firing(name: str, n: int) -> Notice:
    """A low-stock notice of part ``n``'s episode, as the plugin builds it."""
    return replace(low_stock(name, n), episode=f"low_stock:part:{n}@2026-12-01T00:00:00+00:00")


def resolution(name: str, n: int, available: str = "15 pcs") -> Notice:
    """The notice that ends part ``n``'s episode (stock back at or above the minimum)."""
    return Notice(
        uid=stable_uid("recovered", name, n),
        category="notify_plus.low_stock_recovered",
        title=f"Stock recovered: {name}",
        summary=f"Available stock is back at or above the minimum ({available} of 10 pcs).",
        severity=Severity.INFO,
        facts=(Fact("Part", name), Fact("Available", available), Fact("Minimum", "10 pcs")),
        episode=f"low_stock:part:{n}@2026-12-01T00:00:00+00:00",
        state="resolved",
    )


@pytest.fixture
def setup(discord, channels):
    directory = make_directory(Destination("discord", KEY, discord.url, "discord 'default'"))
    dispatcher = Dispatcher(directory, channels, policy=FAST, group_interval=timedelta(seconds=0))
    return discord, dispatcher


def announce(*notices: Notice) -> None:
    for notice in notices:
        enqueue(notice, [PlannedDelivery("discord", KEY, "discord 'default'")])


def test_resolution_edits_the_message_in_place(setup):
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    assert len(discord.accepted) == 1
    posted = discord.message(0)
    original = Delivery.objects.get(kind=Kind.NOTICE)
    assert original.external_id == posted.id

    assert follow_up(resolution("M3 screw", 1), "update") == 1
    dispatcher.drain(budget_seconds=10)

    assert len(discord.accepted) == 1, "the update must not post a new message"
    assert posted.edits == 1
    embed = posted.payload["embeds"][0]
    assert embed["color"] == RESOLVED_COLOUR
    assert embed["title"] == "Low stock: M3 screw"
    assert "✅ Resolved <t:" in embed["description"]
    assert "available now 15 pcs" in embed["description"]
    assert "~~Available stock 3 pcs is below" in embed["description"]
    assert {"name": "Shortfall", "value": "7 pcs", "inline": True} in embed["fields"]
    update = Delivery.objects.get(kind=Kind.UPDATE)
    assert (update.status, update.attempts, update.reply_to_id) == (Status.SENT, 1, original.pk)
    assert update.external_id == posted.id
    assert not update.groupable


def test_digest_edited_as_each_part_recovers(setup):
    discord, dispatcher = setup
    announce(firing("Bolt", 1), firing("Nut", 2), firing("Washer", 3))
    dispatcher.drain(budget_seconds=10)
    assert len(discord.accepted) == 1
    posted = discord.message(0)
    assert posted.payload["embeds"][0]["title"].startswith("3 notifications")

    follow_up(resolution("Bolt", 1, "12 pcs"), "update")
    dispatcher.drain(budget_seconds=10)
    lines = posted.payload["embeds"][0]["description"].splitlines()
    assert lines[0].startswith("• ~~[Low stock: Bolt]") and "available now 12 pcs" in lines[0]
    assert "Resolved" not in lines[1] and "Resolved" not in lines[2]
    assert posted.payload["embeds"][0]["title"].endswith("· 1 resolved")

    follow_up(resolution("Washer", 3, "30 pcs"), "update")
    dispatcher.drain(budget_seconds=10)
    lines = posted.payload["embeds"][0]["description"].splitlines()
    assert "available now 12 pcs" in lines[0]
    assert "Resolved" not in lines[1]
    assert lines[2].startswith("• ~~[Low stock: Washer]") and "available now 30 pcs" in lines[2]
    assert posted.payload["embeds"][0]["color"] != RESOLVED_COLOUR  # the nut is still low

    follow_up(resolution("Nut", 2), "update")
    dispatcher.drain(budget_seconds=10)
    assert posted.payload["embeds"][0]["color"] == RESOLVED_COLOUR
    assert posted.payload["embeds"][0]["title"].endswith("· all resolved")
    assert (len(discord.accepted), posted.edits) == (1, 3)
    assert Delivery.objects.filter(kind=Kind.UPDATE, status=Status.SENT).count() == 3


def test_a_500_on_the_edit_is_retried_into_exactly_one_edit(setup):
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    discord.then(Answer(500, {"message": "Internal Server Error"}))

    follow_up(resolution("M3 screw", 1), "update")
    dispatcher.drain(budget_seconds=10)

    assert discord.requests == 3  # the post, the failed edit, the edit
    assert (len(discord.accepted), discord.message(0).edits, len(discord.edited)) == (1, 1, 1)
    update = Delivery.objects.get(kind=Kind.UPDATE)
    assert (update.status, update.attempts) == (Status.SENT, 2)


def test_a_429_on_the_edit_waits_for_retry_after(setup):
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    discord.then(discord.rate_limit_answer(0.2))

    follow_up(resolution("M3 screw", 1), "update")
    dispatcher.drain(budget_seconds=10)

    assert (len(discord.accepted), discord.message(0).edits) == (1, 1)
    assert Delivery.objects.get(kind=Kind.UPDATE).status == Status.SENT


def test_unknown_message_is_a_permanent_failure_with_discords_answer(setup):
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    Delivery.objects.filter(kind=Kind.NOTICE).update(external_id="1299999999999999999")

    follow_up(resolution("M3 screw", 1), "update")
    dispatcher.drain(budget_seconds=10)

    update = Delivery.objects.get(kind=Kind.UPDATE)
    assert (update.status, update.attempts) == (Status.FAILED, 1)
    assert "404" in update.last_error and "Unknown Message" in update.last_error
    assert discord.requests == 2 and discord.message(0).edits == 0
    assert len(discord.accepted) == 1


def test_follow_up_twice_queues_once(setup):
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    notice = resolution("M3 screw", 1)

    assert follow_up(notice, "update") == 1
    assert follow_up(notice, "update") == 0
    dispatcher.drain(budget_seconds=10)
    assert follow_up(notice, "update") == 0
    dispatcher.drain(budget_seconds=10)

    assert Delivery.objects.filter(kind=Kind.UPDATE).count() == 1
    assert (len(discord.accepted), discord.message(0).edits) == (1, 1)


def test_an_original_still_pending_is_sent_then_edited(setup):
    """Resolved before it went out: the message still arrives, and reads 'resolved' at once."""
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))

    assert follow_up(resolution("M3 screw", 1), "update") == 1
    dispatcher.drain(budget_seconds=10)

    assert len(discord.accepted) == 1
    posted = discord.message(0)
    assert posted.edits == 1
    assert "Resolved" in posted.payload["embeds"][0]["description"]
    update = Delivery.objects.get(kind=Kind.UPDATE)
    assert (update.status, update.attempts, update.external_id) == (Status.SENT, 1, posted.id)


def test_an_original_that_failed_skips_its_follow_up(setup):
    discord, dispatcher = setup
    discord.then(Answer(404, {"message": "Unknown Webhook", "code": 10015}))
    announce(firing("M3 screw", 1))
    follow_up(resolution("M3 screw", 1), "update")
    dispatcher.drain(budget_seconds=10)

    update = Delivery.objects.get(kind=Kind.UPDATE)
    assert update.status == Status.SKIPPED
    assert "original message was not sent (failed)" in update.last_error
    assert discord.requests == 1 and not discord.accepted


def test_channels_that_cannot_edit_get_no_update(slack, channels):
    enqueue(firing("M3 screw", 1), [PlannedDelivery("slack", "slack:default", "slack")])
    Delivery.objects.update(status=Status.SENT, external_id="whatever")
    assert follow_up(resolution("M3 screw", 1), "update") == 0
    assert not Delivery.objects.filter(kind=Kind.UPDATE).exists()


def test_an_edit_is_not_folded_into_a_digest_of_new_notices(setup):
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    follow_up(resolution("M3 screw", 1), "update")
    announce(firing("Bolt", 2), firing("Nut", 3))
    dispatcher.drain(budget_seconds=10)

    assert len(discord.accepted) == 2
    assert discord.message(1).payload["embeds"][0]["title"].startswith("2 notifications")
    assert (discord.message(0).edits, discord.message(1).edits) == (1, 0)
    assert "Resolved" in discord.message(0).payload["embeds"][0]["description"]


def test_the_edit_does_not_wait_for_the_grouping_window(discord, channels):
    """At the default minute of grouping: the next digest waits, the edit goes at once."""
    directory = make_directory(Destination("discord", KEY, discord.url, "discord 'default'"))
    dispatcher = Dispatcher(directory, channels, policy=FAST, group_interval=timedelta(seconds=60))
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=5, wait=False)
    announce(firing("Bolt", 2))
    follow_up(resolution("M3 screw", 1), "update")
    dispatcher.drain(budget_seconds=5, wait=False)

    assert len(discord.accepted) == 1  # the bolt waits out the minute
    assert discord.message(0).edits == 1
    assert Delivery.objects.get(title="Low stock: Bolt").status == Status.PENDING


class Threading(Channel):
    """A channel that threads replies (as Slack app mode will): records what it was given."""

    kind = "threading"
    threads = True
    rate_limit = RateLimit(burst=1000, per_second=1000.0)

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[list[str]] = []
        self.replies: list[tuple[SentMessage, list[str], list[str]]] = []

    def render(self, destination, notices, mentions=()):
        return [n.title for n in notices]

    def send(self, destination, notices, mentions=()):
        self.sent.append([n.uid for n in notices])
        return SendResult.sent(external_id=f"ts-{len(self.sent)}")

    def reply(self, destination, original, notices, mentions=()):
        self.replies.append((original, [n.title for n in notices], list(mentions)))
        return SendResult.sent(external_id="reply-1")


def test_a_reply_threads_under_the_message_with_its_mentions(monkeypatch):
    """The path reminders use: a reply row, given the original message and whom it pinged."""
    from inventree_notify_plus import channels as channel_registry

    monkeypatch.setitem(channel_registry.CHANNELS, "threading", Threading)
    threading = Threading()
    directory = make_directory(Destination("threading", "threading:ops", "x", "ops"))
    dispatcher = Dispatcher(directory, {"threading": threading}, policy=FAST)
    plan = PlannedDelivery("threading", "threading:ops", "ops", mentions=("U1",))
    enqueue(firing("M3 screw", 1), [plan])
    dispatcher.drain(budget_seconds=5)
    reminder = replace(
        firing("M3 screw", 1), uid="reminder-1", title="Still low: M3 screw", state="reminder"
    )

    assert follow_up(reminder, "update") == 0  # it cannot edit
    assert follow_up(reminder, "reply") == 1
    dispatcher.drain(budget_seconds=5)

    assert len(threading.sent) == 1
    (original, titles, mentions) = threading.replies[0]
    assert original.external_id == "ts-1"
    assert [n.title for n in original.notices] == ["Low stock: M3 screw"]
    assert original.resolved == {}
    assert (titles, mentions) == (["Still low: M3 screw"], ["U1"])
    row = Delivery.objects.get(kind=Kind.REPLY)
    assert (row.status, row.external_id, row.reply_to.external_id) == (
        Status.SENT,
        "reply-1",
        "ts-1",
    )


def test_the_discord_stand_in_speaks_the_message_protocol(discord):
    """?wait=true answers the message with its id; without, 204; PATCH edits, 404 if unknown."""
    import requests

    quiet = requests.post(discord.url, json={"content": "a"}, timeout=5)
    waited = requests.post(discord.url, params={"wait": "true"}, json={"content": "b"}, timeout=5)
    assert quiet.status_code == 204 and not quiet.content
    assert waited.status_code == 200 and waited.json()["content"] == "b"
    message_id = waited.json()["id"]
    edited = requests.patch(
        f"{discord.url}/messages/{message_id}", json={"content": "c"}, timeout=5
    )
    unknown = requests.patch(f"{discord.url}/messages/1", json={"content": "d"}, timeout=5)
    assert edited.status_code == 200 and edited.json() == {
        "content": "c",
        "id": message_id,
        "type": 0,
    }
    assert unknown.status_code == 404 and unknown.json()["code"] == 10008
    assert discord.messages[message_id].payload == {"content": "c"}
    assert discord.messages[message_id].history == [{"content": "b"}]
    assert len(discord.accepted) == 2 and discord.edited == [(message_id, {"content": "c"})]


def test_an_id_the_service_reused_mixes_no_other_message_into_the_edit(setup):
    """Two messages with one id (a restarted stand-in): the edit shows only what it carried."""
    discord, dispatcher = setup
    announce(firing("Bolt", 1))
    dispatcher.drain(budget_seconds=10)
    announce(firing("Nut", 2))
    dispatcher.drain(budget_seconds=10)
    first = discord.message(0)
    Delivery.objects.filter(kind=Kind.NOTICE).update(external_id=first.id)

    follow_up(resolution("Bolt", 1), "update")
    dispatcher.drain(budget_seconds=10)

    embeds = first.payload["embeds"]
    assert [e["title"] for e in embeds] == ["Low stock: Bolt"]
    assert "available now 15 pcs" in embeds[0]["description"]
    assert discord.message(1).edits == 0


def test_a_reminder_on_discord_follows_up_the_message_it_reminds_of(setup):
    """A webhook cannot thread: the reminder is a new post naming the message it follows."""
    discord, dispatcher = setup
    announce(firing("M3 screw", 1))
    dispatcher.drain(budget_seconds=10)
    reminder = replace(
        firing("M3 screw", 1), uid="reminder-1", title="Still low: M3 screw", state="reminder"
    )

    assert follow_up(reminder, "reply") == 1
    assert follow_up(reminder, "reply") == 0
    dispatcher.drain(budget_seconds=10)

    assert len(discord.accepted) == 2
    posted = discord.message(1)
    assert posted.payload["content"].startswith("↪ Follows up: **Low stock: M3 screw**")
    assert posted.payload["embeds"][0]["title"] == "Still low: M3 screw"
    assert discord.message(0).edits == 0  # the original stays as it was
    row = Delivery.objects.get(kind=Kind.REPLY)
    assert (row.status, row.external_id) == (Status.SENT, posted.id)
    assert row.reply_to.external_id == discord.message(0).id
