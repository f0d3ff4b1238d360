"""Silences and snoozes in the outbox (no InvenTree): what is held, what a silence's end
announces, what a snooze stops, and the signed links the messages carry."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils import timezone

from inventree_notify_plus import snoozing
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.received import email_titles, slack_titles
from inventree_notify_plus.models import Condition, Delivery, Silence, Snooze
from inventree_notify_plus.notice import Notice
from inventree_notify_plus.outbox import holds
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.plan import PlannedDelivery

from .conftest import directory as make_directory
from .conftest import low_stock

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "http://inventree.local"


def part_notice(pk: int, since: str = "2026-12-01T10:00:00+00:00", **kw) -> Notice:
    """A low-stock notice of part ``pk`` in category path [1, 2] and location path [7, 8]."""
    base = low_stock(f"Part {pk}", pk)
    return replace(
        base,
        uid=f"low-{pk}-{since}-{kw.get('state', 'firing')}",
        object_ref=f"part.part:{pk}",
        scope={"part": pk, "part_category_path": [1, 2], "location_path": [7, 8]},
        episode=f"low_stock:part:{pk}@{since}",
        **kw,
    )


def silence(**kw) -> Silence:
    now = timezone.now()
    fields = {"starts": now - timedelta(minutes=1), "ends": now + timedelta(hours=1), **kw}
    return Silence.objects.create(**fields)


def slack_plan() -> PlannedDelivery:
    return PlannedDelivery("slack", "slack:default", "slack 'default'")


def email_plan(user: int) -> PlannedDelivery:
    return PlannedDelivery("email", f"email:user:{user}", f"user {user}")


def dispatcher(directory, channels) -> Dispatcher:
    return Dispatcher(
        directory,
        channels,
        policy=RetryPolicy(base_seconds=0.05, cap_seconds=0.2),
        group_interval=timedelta(0),
    )


# -- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "held"),
    [
        ({"part_id": 5}, True),
        ({"part_id": 6}, False),
        ({"part_category_id": 1}, True),  # a parent category holds its children's parts
        ({"part_category_id": 2}, True),
        ({"part_category_id": 3}, False),
        ({"location_id": 7}, True),  # a parent location holds its sublocations
        ({"location_id": 9}, False),
        ({"category": "part.notify_low_stock"}, True),
        ({"category": "build.stock_required"}, False),
        ({"destination": "slack:default"}, True),
        ({"destination": "slack:ops"}, False),
        ({"part_id": 5, "destination": "slack:ops"}, False),  # every criterion must match
        ({"part_category_id": 2, "category": "part.notify_low_stock"}, True),
    ],
)
def test_silence_matching(criteria, held):
    criteria = {
        "part_id": None,
        "part_category_id": None,
        "location_id": None,
        "category": "",
        "destination": "",
        **criteria,
    }
    notice = part_notice(5).to_dict()
    assert holds.matches(SimpleNamespace(**criteria), notice, "slack:default") is held


# -- holding and releasing -------------------------------------------------------------------


def test_silence_holds_rows_queued_before_it_and_sends_nothing(slack, channels):
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    enqueue(part_notice(5), [slack_plan()])
    enqueue(part_notice(6), [slack_plan()])
    s = silence(part_id=5)
    dispatcher(directory, channels).drain(budget_seconds=3)
    held = Delivery.objects.get(title="Low stock: Part 5")
    assert held.status == "silenced" and held.silence_id == s.pk
    assert f"silence {s.pk}" in held.last_error
    titles = [t for p in slack.accepted for t in slack_titles(p)[0]]
    assert titles == ["Low stock: Part 6"]


def test_release_announces_what_is_still_low_once_and_not_what_recovered(slack, channels):
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    since5, since6 = "2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+00:00"
    Condition.objects.create(
        key="low_stock:part:5",
        since=timezone.datetime.fromisoformat(since5),
        detail={"ended": False},
    )
    Condition.objects.create(key="low_stock:part:6", detail={"ended": True})
    s = silence(part_category_id=1)
    d = dispatcher(directory, channels)
    # A burst while silenced: part 5 twice (a repeat of its episode), part 6 low then recovered.
    enqueue(part_notice(5, since5), [slack_plan()])
    enqueue(replace(part_notice(5, since5), uid="repeat-5"), [slack_plan()])
    enqueue(part_notice(6, since6), [slack_plan()])
    enqueue(part_notice(6, since6, state="resolved"), [slack_plan()])
    d.drain(budget_seconds=2)
    assert slack.accepted == []
    assert Delivery.objects.filter(status="silenced", silence=s).count() == 4

    assert holds.expire(s.pk, timezone.now()) == 1
    assert holds.expire(s.pk, timezone.now()) == 0  # released once; again repeats nothing
    d.drain(budget_seconds=3)
    titles = [t for p in slack.accepted for t in slack_titles(p)[0]]
    assert titles == ["Low stock: Part 5"]
    part6 = Delivery.objects.filter(title="Low stock: Part 6")
    assert {r.status for r in part6} == {"skipped"}
    assert all("recovered while silenced" in r.last_error for r in part6)
    repeats = Delivery.objects.filter(title="Low stock: Part 5", status="skipped")
    assert repeats.count() == 1 and "announced once" in repeats.get().last_error
    assert Silence.objects.get(pk=s.pk).released_at is not None


def test_silence_ending_on_its_own_is_released_by_the_next_pass(slack, channels):
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    s = silence(category="part.notify_low_stock")
    enqueue(low_stock("No episode", 3), [slack_plan()])
    d = dispatcher(directory, channels)
    d.drain(budget_seconds=1)
    assert Delivery.objects.get().status == "silenced"
    Silence.objects.filter(pk=s.pk).update(ends=timezone.now() - timedelta(seconds=1))
    d.drain(budget_seconds=3)
    assert Delivery.objects.get().status == "sent" and len(slack.accepted) == 1


def test_pending_silence_holds_nothing_yet(slack, channels):
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    silence(part_id=5, starts=timezone.now() + timedelta(hours=1))
    enqueue(part_notice(5), [slack_plan()])
    dispatcher(directory, channels).drain(budget_seconds=2)
    assert Delivery.objects.get().status == "sent"


# -- snoozes ---------------------------------------------------------------------------------


def test_snooze_skips_that_users_email_and_mention_not_anothers(smtp, slack, channels):
    users = get_user_model()
    alice = users.objects.create(username="alice")
    bob = users.objects.create(username="bob")
    notice = part_notice(5)
    Snooze.objects.create(
        user=alice,
        episode=notice.episode,
        until=timezone.now() + timedelta(days=1),
        token="t1",
    )
    directory = make_directory(
        Destination("email", f"email:user:{alice.pk}", "alice@example.com", "alice"),
        Destination("email", f"email:user:{bob.pk}", "bob@example.com", "bob"),
        Destination("slack", "slack:default", slack.url, "slack"),
    )
    plan = replace(slack_plan(), mentions=("UALICE", "UBOB"))
    enqueue(notice, [email_plan(alice.pk), email_plan(bob.pk), plan])
    enqueue(part_notice(6), [email_plan(alice.pk)])  # another part: not snoozed
    d = dispatcher(directory, channels)
    d.mentions_of = lambda ids: {alice.pk: {"UALICE"}, bob.pk: {"UBOB"}}
    d.drain(budget_seconds=3)
    alice_row = Delivery.objects.get(destination=f"email:user:{alice.pk}", episode=notice.episode)
    assert alice_row.status == "skipped" and "snoozed by alice until" in alice_row.last_error
    alice_mail = [t for m in smtp.to("alice@example.com") for t in email_titles(m, "Workshop")[0]]
    assert alice_mail == ["Low stock: Part 6"]
    assert [t for m in smtp.to("bob@example.com") for t in email_titles(m, "Workshop")[0]] == [
        "Low stock: Part 5"
    ]
    assert len(slack.accepted) == 1  # the channel post stays, without alice's mention
    assert "<@UBOB>" in slack.accepted[0]["text"] and "UALICE" not in slack.accepted[0]["text"]


def test_lifted_or_ended_snooze_stops_nothing(smtp, channels):
    alice = get_user_model().objects.create(username="alice")
    notice = part_notice(5)
    Snooze.objects.create(
        user=alice,
        episode=notice.episode,
        until=timezone.now() + timedelta(days=1),
        token="t1",
        lifted_at=timezone.now(),
    )
    directory = make_directory(
        Destination("email", f"email:user:{alice.pk}", "alice@example.com", "alice")
    )
    enqueue(notice, [email_plan(alice.pk)])
    dispatcher(directory, channels).drain(budget_seconds=3)
    assert Delivery.objects.get().status == "sent"


# -- signed links ----------------------------------------------------------------------------


def test_links_are_signed_absolute_and_single_purpose():
    notice = part_notice(5)
    (day, day_url), (week, week_url) = snoozing.links(notice, SITE + "/", user_id=3)
    assert (day, week) == ("Snooze 1 day", "Snooze 1 week")
    assert day_url.startswith(f"{SITE}/plugin/notify-plus/snooze/") and day_url.endswith("/")
    token = day_url.rstrip("/").rsplit("/", 1)[1]
    link = snoozing.verify(token)
    assert (link.user_id, link.episode, link.period) == (3, notice.episode, "1d")
    assert link.duration == timedelta(days=1)
    assert snoozing.verify(week_url.rstrip("/").rsplit("/", 1)[1]).period == "1w"
    # Another purpose's signature (same key, other salt) is not a snooze link.
    other = signing.TimestampSigner(salt="other").sign_object({"u": 3, "e": "x", "p": "1d"})
    with pytest.raises(snoozing.LinkRefusedError) as refused:
        snoozing.verify(other)
    assert refused.value.status == 400
    with pytest.raises(snoozing.LinkRefusedError):
        snoozing.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_expired_link_is_refused_with_410(monkeypatch):
    token = snoozing.sign("low_stock:part:5@x", "1d", 3)
    later = timezone.now().timestamp() + snoozing.LINK_LIFETIME.total_seconds() + 60
    monkeypatch.setattr("time.time", lambda: later)
    with pytest.raises(snoozing.LinkRefusedError) as refused:
        snoozing.verify(token)
    assert refused.value.status == 410


def test_no_links_without_episode_site_url_or_for_a_resolution():
    assert snoozing.links(low_stock(), SITE) == []
    assert snoozing.links(part_notice(5), "") == []
    assert snoozing.links(part_notice(5, state="resolved"), SITE) == []


def test_messages_carry_snooze_links(channels):
    from inventree_notify_plus.channels import DiscordChannel, EmailChannel, SlackChannel
    from inventree_notify_plus.channels.base import RenderContext

    context = RenderContext("Shop", SITE)
    notice = part_notice(5)
    slack = SlackChannel(context).render(Destination("slack", "slack:d", "", "d"), [notice])
    assert "Snooze 1 day>" in str(slack["blocks"]) and "Snooze 1 week>" in str(slack["blocks"])
    discord = DiscordChannel(context).render(
        Destination("discord", "discord:d", "http://x", "d"), [notice]
    )
    assert "[Snooze 1 day](" in str(discord["embeds"])
    mail = EmailChannel(context).render(
        Destination("email", "email:user:3", "a@example.com", "a"), [notice]
    )
    assert "Snooze 1 week: http://inventree.local/plugin/notify-plus/snooze/" in mail["text"]
    token = mail["text"].split("Snooze 1 day: ")[1].split()[0].rstrip("/").rsplit("/", 1)[1]
    assert snoozing.verify(token).user_id == 3  # the email's links are bound to its recipient
    assert ">Snooze 1 day</a>" in mail["html"]


def test_recovery_of_a_held_episode_is_held_with_it(slack, channels):
    """A silence of low-stock notices also holds their recovery (another category)."""
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    s = silence(category="part.notify_low_stock")
    d = dispatcher(directory, channels)
    enqueue(part_notice(5), [slack_plan()])
    d.drain(budget_seconds=1)
    recovered = replace(
        part_notice(5, state="resolved"), category="notify_plus.low_stock_recovered"
    )
    enqueue(recovered, [slack_plan()])
    d.drain(budget_seconds=1)
    assert {r.status for r in Delivery.objects.all()} == {"silenced"}
    holds.expire(s.pk, timezone.now())
    d.drain(budget_seconds=1)
    assert slack.accepted == []
    assert all("recovered while silenced" in r.last_error for r in Delivery.objects.all())


def test_a_recovery_queued_before_the_release_is_not_announced(slack, channels):
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    s = silence(category="part.notify_low_stock")
    d = dispatcher(directory, channels)
    enqueue(part_notice(5), [slack_plan()])
    d.drain(budget_seconds=1)
    recovered = replace(
        part_notice(5, state="resolved"), category="notify_plus.low_stock_recovered"
    )
    enqueue(recovered, [slack_plan()])  # queued, not yet seen by a pass, when staff expire it
    holds.expire(s.pk, timezone.now())
    d.drain(budget_seconds=1)
    assert slack.accepted == []
    assert {r.status for r in Delivery.objects.all()} == {"skipped"}


def test_release_asks_whether_the_condition_still_holds(slack, channels):
    """A part restocked a moment ago (its recovery not yet processed) is not announced."""
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    s = silence(category="part.notify_low_stock")
    d = dispatcher(directory, channels)
    enqueue(part_notice(5), [slack_plan()])
    enqueue(part_notice(6), [slack_plan()])
    d.drain(budget_seconds=1)
    restocked = part_notice(6).episode
    assert holds.expire(s.pk, timezone.now(), lambda e: e != restocked) == 1
    d.drain(budget_seconds=2)
    assert [t for p in slack.accepted for t in slack_titles(p)[0]] == ["Low stock: Part 5"]
