"""The outbox under faults: every deliverable notice arrives exactly once; permanent failures
are recorded, not retried; rate limits reschedule; grouping folds bursts into digests."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from inventree_notify_plus.channels import EmailChannel
from inventree_notify_plus.channels.base import Destination, SendResult, Skip
from inventree_notify_plus.devtools.received import discord_titles, email_titles, slack_titles
from inventree_notify_plus.devtools.standins import Answer
from inventree_notify_plus.models import Delivery, NoticeRecord
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.report import DispatchReport, counts, prune
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.plan import PlannedDelivery

from .conftest import directory as make_directory
from .conftest import low_stock

pytestmark = pytest.mark.django_db(transaction=True)

FAST = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=8)


def slack_plan(**kw):
    return PlannedDelivery("slack", "slack:default", "slack 'default'", **kw)


def email_plan(user, **kw):
    return PlannedDelivery("email", f"email:user:{user}", f"user {user}", groupable=False, **kw)


def dispatcher(directory, channels, interval=0.0, policy=FAST):
    return Dispatcher(
        directory, channels, policy=policy, group_interval=timedelta(seconds=interval)
    )


def test_anchor_429_429_500_500_503_loses_nothing(slack, channels):
    """InvenTree's built-in Slack method lost 5 of these 10; the outbox loses none."""
    slack.then(
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(500, "internal_error"),
        Answer(500, "internal_error"),
        Answer(503),
    )
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    d = dispatcher(directory, channels)
    for n in range(10):
        enqueue(low_stock(f"Part {n}", n), [slack_plan()])
        d.run_once()
    d.drain(budget_seconds=20)
    assert counts()["sent"] == 10 and counts()["pending"] == 0
    delivered = [t for payload in slack.accepted for t in slack_titles(payload)[0]]
    assert sorted(delivered) == sorted(f"Low stock: Part {n}" for n in range(10))
    assert slack.requests == len(slack.accepted) + 5


def test_same_notice_enqueued_twice_is_one_delivery(channels):
    notice = low_stock()
    assert enqueue(notice, [slack_plan(), email_plan(1)]) == 2
    assert enqueue(notice, [slack_plan(), email_plan(1)]) == 0
    assert Delivery.objects.count() == 2


def test_smtp_451_retried_then_delivered_once_550_failed_not_retried(smtp, channels):
    smtp.refuse("alice@example.com", "451 4.3.0 Try later", "451 4.3.0 Try later")
    smtp.refuse("gone@example.com", "550 5.1.1 No such user")
    directory = make_directory(
        Destination("email", "email:user:1", "alice@example.com", "alice"),
        Destination("email", "email:user:2", "gone@example.com", "gone"),
    )
    enqueue(low_stock(), [email_plan(1), email_plan(2)])
    dispatcher(directory, channels).drain(budget_seconds=10)
    assert len(smtp.to("alice@example.com")) == 1
    gone = Delivery.objects.get(destination="email:user:2")
    assert gone.status == "failed" and gone.attempts == 1 and "550" in gone.last_error
    assert smtp.to("gone@example.com") == []


def test_discord_429_retry_after_reschedules_without_sleeping_long(discord, channels):
    discord.then(Answer(429, {"message": "rate limited", "retry_after": 0.6, "global": False}))
    directory = make_directory(Destination("discord", "discord:default", discord.url, "discord"))
    enqueue(low_stock(), [PlannedDelivery("discord", "discord:default", "discord")])
    d = dispatcher(directory, channels)
    assert d.run_once() == 0.0  # sent once, got 429
    row = Delivery.objects.get()
    assert row.status == "pending" and row.attempts == 0 and row.due_at > timezone.now()
    d.drain(budget_seconds=5)
    assert len(discord.accepted) == 1 and Delivery.objects.get().status == "sent"


def test_permanent_webhook_failure_recorded_not_retried(slack, channels):
    slack.then(Answer(404, "no_service"))
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    enqueue(low_stock(), [slack_plan()])
    dispatcher(directory, channels).drain(budget_seconds=3)
    row = Delivery.objects.get()
    assert row.status == "failed" and row.attempts == 1 and "no_service" in row.last_error
    assert slack.requests == 1


def test_transient_failures_give_up_after_max_attempts(slack, channels):
    slack.then(*[Answer(500, "internal_error")] * 3)
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    enqueue(low_stock(), [slack_plan()])
    policy = RetryPolicy(base_seconds=0.01, cap_seconds=0.02, max_attempts=3)
    dispatcher(directory, channels, policy=policy).drain(budget_seconds=5)
    row = Delivery.objects.get()
    assert (
        row.status == "failed"
        and row.attempts == 3
        and "gave up after 3 attempts" in row.last_error
    )
    assert slack.accepted == []


def test_skips_deleted_target_and_inactive_user_without_blocking_others(smtp, channels):
    directory = make_directory(Destination("email", "email:user:1", "alice@example.com", "alice"))
    directory.destinations["email:user:2"] = Skip("the user is inactive")
    deleted = low_stock(
        "Gone part",
        99,
    )
    deleted = deleted.__class__(**{**deleted.__dict__, "object_ref": "part.part:99"})
    directory.deleted.add("part.part:99")
    enqueue(deleted, [email_plan(1)])
    enqueue(low_stock(), [email_plan(1), email_plan(2)])
    dispatcher(directory, channels).drain(budget_seconds=5)
    statuses = {(r.title, r.destination): (r.status, r.last_error) for r in Delivery.objects.all()}
    assert statuses[("Low stock: Gone part", "email:user:1")] == (
        "skipped",
        "the object was deleted before sending",
    )
    assert statuses[("Low stock: M3 screw", "email:user:2")] == ("skipped", "the user is inactive")
    assert statuses[("Low stock: M3 screw", "email:user:1")][0] == "sent"
    assert len(smtp.messages) == 1


def test_burst_is_grouped_into_a_digest(slack, channels):
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    d = dispatcher(directory, channels, interval=0.5)
    enqueue(low_stock("First", 0), [slack_plan()])
    d.run_once()
    for n in range(1, 30):
        enqueue(low_stock(f"Part {n}", n), [slack_plan()])
    d.drain(budget_seconds=5)
    assert len(slack.accepted) == 2
    assert slack.accepted[0]["blocks"][0]["text"]["text"] == "Low stock: First"
    assert slack.accepted[1]["blocks"][0]["text"]["text"] == "29 notifications: Low stock (29)"
    assert counts()["sent"] == 30


def test_concurrent_dispatchers_send_each_delivery_once(smtp, channels):
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in range(8))
    )
    for n in range(5):
        enqueue(low_stock(f"P{n}", n), [email_plan(u) for u in range(8)])
    errors = []

    def worker():
        try:
            dispatcher(directory, channels).drain(budget_seconds=10)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(smtp.messages) == 40
    pairs = [(rcpts[0], m["Subject"]) for rcpts, m in smtp.messages]
    assert len(set(pairs)) == 40


def test_worker_killed_mid_send_is_not_resent(channels):
    enqueue(low_stock(), [slack_plan()])
    Delivery.objects.update(status="sending", claimed_at=timezone.now() - timedelta(minutes=10))
    d = dispatcher(make_directory(), channels)
    assert d.recover_stale() == 1
    row = Delivery.objects.get()
    assert row.status == "unknown" and "not sent again" in row.last_error


def test_email_digest_waits_for_its_time(smtp, channels):
    directory = make_directory(Destination("email", "email:user:1", "alice@example.com", "alice"))
    later = timezone.now() + timedelta(seconds=0.6)
    for n in range(3):
        enqueue(
            low_stock(f"P{n}", n), [PlannedDelivery("email", "email:user:1", "alice", due_at=later)]
        )
    d = dispatcher(directory, channels)
    d.run_once()
    assert smtp.messages == []
    d.drain(budget_seconds=3)
    assert len(smtp.messages) == 1
    assert smtp.messages[0][1]["Subject"] == "[Workshop] 3 notifications: Low stock (3)"


def test_prune_keeps_pending_and_recent(channels):
    enqueue(low_stock("old", 1), [slack_plan()])
    enqueue(low_stock("new", 2), [slack_plan()])
    enqueue(low_stock("waiting", 3), [email_plan(1)])
    Delivery.objects.filter(title__in=["Low stock: old", "Low stock: waiting"]).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    Delivery.objects.exclude(title="Low stock: waiting").update(status="sent")
    assert prune(30) == 1
    assert prune(0) == 0
    assert sorted(Delivery.objects.values_list("title", flat=True)) == [
        "Low stock: new",
        "Low stock: waiting",
    ]


def test_backlog_larger_than_a_message_is_split_not_summarised(discord, channels):
    """1000 waiting notices: every one listed in some message, none as '... and N more'."""
    destination = Destination("discord", "discord:default", discord.url, "discord")
    plan = PlannedDelivery("discord", "discord:default", "discord")
    for n in range(1000):
        enqueue(low_stock(f"Part {n}", n), [plan])
    dispatcher(make_directory(destination), channels, interval=0.5).drain(budget_seconds=30)
    titles = [t for body in discord.accepted for t in discord_titles(body)[0]]
    assert sorted(titles) == sorted(f"Low stock: Part {n}" for n in range(1000))
    assert sum(discord_titles(body)[1] for body in discord.accepted) == 0
    assert 1 < len(discord.accepted) < 40


def test_late_answer_of_an_expired_claim_cannot_undo_a_later_send(slack, channels):
    """Worker A's lease ran out; the row was sent by another worker; A's late 'retry' is void."""
    enqueue(low_stock(), [slack_plan()])
    stale = timezone.now() - timedelta(minutes=1)
    Delivery.objects.update(status="sending", claim_token="a" * 32, claimed_at=stale, attempts=1)
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    d = dispatcher(directory, channels)
    assert d.recover_stale() == 1
    Delivery.objects.update(status="pending", attempts=0)  # the admin resends it
    d.drain(budget_seconds=5)
    assert len(slack.accepted) == 1
    row = Delivery.objects.get()
    d._record(
        "slack:default",
        channels["slack"],
        [row],
        "a" * 32,
        SendResult.retry("late 500"),
        DispatchReport(),
    )
    row.refresh_from_db()
    assert row.status == "sent" and row.last_error == ""
    d.drain(budget_seconds=1)
    assert len(slack.accepted) == 1


def test_slow_worker_answer_settles_its_unknown_row(channels):
    """A worker slower than its lease: the row shows 'unknown', then its real outcome."""
    enqueue(low_stock(), [slack_plan()])
    stale = timezone.now() - timedelta(minutes=1)
    Delivery.objects.update(status="sending", claim_token="b" * 32, claimed_at=stale, attempts=1)
    d = dispatcher(make_directory(), channels)
    d.recover_stale()
    row = Delivery.objects.get()
    assert row.status == "unknown"
    d._record(
        "slack:default", channels["slack"], [row], "b" * 32, SendResult.sent(), DispatchReport()
    )
    assert Delivery.objects.get().status == "sent"


def test_digest_due_a_day_after_it_was_queued_survives_its_first_error(slack, channels):
    """Retry age counts from the first due time, not from when the row was written."""
    slack.then(Answer(500, "internal_error"))
    now = timezone.now()
    enqueue(low_stock(), [slack_plan(due_at=now)], now=now - timedelta(hours=25))
    directory = make_directory(Destination("slack", "slack:default", slack.url, "slack"))
    policy = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_age=timedelta(hours=24))
    dispatcher(directory, channels, policy=policy).drain(budget_seconds=5)
    assert Delivery.objects.get().status == "sent"
    assert len(slack.accepted) == 1


def test_emails_of_a_batch_share_one_smtp_connection(smtp, channels):
    """Forty subscribers of one notice: forty mails, one SMTP connection."""
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in range(40))
    )
    enqueue(low_stock(), [email_plan(u) for u in range(40)])
    dispatcher(directory, channels).drain(budget_seconds=10)
    assert sorted(r[0] for r, _ in smtp.messages) == sorted(f"u{u}@example.com" for u in range(40))
    assert len(smtp.peers) == 1


def test_notice_is_stored_once_for_all_its_deliveries(channels):
    enqueue(low_stock(), [slack_plan(), *(email_plan(u) for u in range(50))])
    assert NoticeRecord.objects.count() == 1
    assert {d.notice["title"] for d in Delivery.objects.all()} == {"Low stock: M3 screw"}


def test_first_retry_comes_within_seconds():
    assert RetryPolicy().backoff(1) <= 2.0


def test_drain_reports_when_the_rest_is_due(channels):
    later = timezone.now() + timedelta(minutes=5)
    enqueue(low_stock(), [slack_plan(due_at=later)])
    report = dispatcher(make_directory(), channels).drain(budget_seconds=0.1)
    assert report.messages == 0 and report.next_due == later


def test_batch_cut_short_by_the_deadline_gives_the_rest_back(smtp, channels):
    """A drain past its deadline sends no more; the rest stays pending for the next drain."""
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in range(10))
    )
    enqueue(low_stock(), [email_plan(u) for u in range(10)])

    ticks = [0.0]

    class SlowMail(EmailChannel):
        def send(self, *args, **kwargs):
            ticks[0] += 4.0  # each mail takes 4 s on this clock
            return super().send(*args, **kwargs)

    d = dispatcher(directory, {**channels, "email": SlowMail(channels["email"].context)})
    d.timer = lambda: ticks[0]
    d.drain(budget_seconds=10)
    sent = len(smtp.messages)
    assert sent == 3
    assert counts()["pending"] == 7 and counts()["sending"] == 0
    assert set(Delivery.objects.filter(status="pending").values_list("attempts", flat=True)) == {0}
    dispatcher(directory, channels).drain(budget_seconds=10)
    assert sorted(r[0] for r, _ in smtp.messages) == sorted(f"u{u}@example.com" for u in range(10))


def test_an_email_backlog_does_not_hold_slack_back_and_a_burst_is_one_digest_each(
    smtp, slack, channels
):
    """A stocktake: 30 notices to 60 subscribers (digest mode) and the Slack channel."""
    people = range(60)
    directory = make_directory(
        Destination("slack", "slack:default", slack.url, "slack"),
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in people),
    )
    for n in range(30):
        digest = [PlannedDelivery("email", f"email:user:{u}", f"u{u}") for u in people]
        enqueue(low_stock(f"part {n}", n), [slack_plan(), *digest])
    first = dispatcher(directory, channels)
    first.run_once()
    assert len(slack.accepted) == 1  # Slack had its turn after one email batch, not after all
    assert Delivery.objects.filter(channel="email", status="pending").exists()
    first.drain(budget_seconds=20)
    per_person = [len([m for r, m in smtp.messages if r[0] == f"u{u}@example.com"]) for u in people]
    assert per_person == [1] * 60  # each subscriber: one digest of the 30 notices


def _digest_to_one_person(smtp, channels, notices: int, deleted: int) -> tuple[int, list]:
    """Queue ``notices`` (the first ``deleted`` of whose parts are then deleted) for one
    digest email; drain; return the drain's SQL statements and the mails."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    directory = make_directory(Destination("email", "email:user:1", "al@example.com", "al"))
    for n in range(notices):
        notice = replace(low_stock(f"part {n}", n), object_ref=f"part.part:{n}")
        enqueue(notice, [PlannedDelivery("email", "email:user:1", "al")])
        if n < deleted:
            directory.deleted.add(notice.object_ref)
    smtp.messages.clear()
    with CaptureQueriesContext(connection) as queries:
        dispatcher(directory, channels).drain(budget_seconds=10)
    return len(queries), list(smtp.messages)


def test_a_digest_costs_the_same_queries_for_ten_notices_or_two_hundred(smtp, channels):
    """Deleted parts are checked for the whole digest at once, not one query per notice."""
    small, small_mail = _digest_to_one_person(smtp, channels, 10, deleted=2)
    Delivery.objects.all().delete()
    large, large_mail = _digest_to_one_person(smtp, channels, 200, deleted=3)
    assert len(small_mail) == len(large_mail) == 1
    titles, hidden = email_titles(large_mail[0][1], "Workshop")
    assert titles == [f"Low stock: part {n}" for n in range(3, 200)] and not hidden
    assert counts()["skipped"] == 3 and counts()["sent"] == 197
    assert large == small  # constant in the digest's size


def test_a_batch_capped_in_rows_still_gives_everyone_every_notice_once(smtp, channels):
    people = range(3)
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in people)
    )
    for n in range(20):
        digest = [PlannedDelivery("email", f"email:user:{u}", f"u{u}") for u in people]
        enqueue(low_stock(f"part {n:02d}", n), digest)
    Dispatcher(
        directory, channels, policy=FAST, group_interval=timedelta(0), max_rows_per_batch=25
    ).drain(budget_seconds=10)
    for u in people:
        mails = [m for r, m in smtp.messages if r[0] == f"u{u}@example.com"]
        assert 1 <= len(mails) <= 2
        listed = sorted(t for m in mails for t in email_titles(m, "Workshop")[0])
        assert listed == [f"Low stock: part {n:02d}" for n in range(20)]  # each once
    assert counts()["sent"] == 60


def test_worker_killed_mid_batch_leaves_only_the_message_in_flight_in_doubt(smtp, channels):
    """SIGKILL while the third of five mails is on the wire: two arrived, the third is
    'unknown', the last two are sent by the next worker once the lease runs out."""
    people = range(5)
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in people)
    )
    enqueue(low_stock(), [email_plan(u) for u in people])

    class Killed(BaseException):
        """Stands for the process dying: nothing after it runs."""

    class DiesOnThirdMail(EmailChannel):
        def send(self, destination, *args, **kwargs):
            if destination.address == "u2@example.com":
                raise Killed
            return super().send(destination, *args, **kwargs)

    dying = dispatcher(directory, {**channels, "email": DiesOnThirdMail(channels["email"].context)})
    with pytest.raises(Killed):
        dying.drain(budget_seconds=10)
    assert counts()["sent"] == 2 and counts()["sending"] == 3
    later = timezone.now() + FAST.lease + timedelta(seconds=1)
    survivor = dispatcher(directory, channels)
    survivor.clock = lambda: later
    survivor.drain(budget_seconds=10)
    mails = sorted(r[0] for r, _ in smtp.messages)
    assert mails == ["u0@example.com", "u1@example.com", "u3@example.com", "u4@example.com"]
    rows = dict(Delivery.objects.values_list("destination", "status"))
    assert rows["email:user:2"] == "unknown"
    assert [rows[f"email:user:{u}"] for u in (0, 1, 3, 4)] == ["sent"] * 4


def test_claims_ask_for_a_drain_at_their_lease_end_and_a_failing_request_sends_anyway(
    smtp, channels
):
    """The wake-up at the lease's end is asked for once per drain; if asking fails (say the
    scheduler's table is gone) the mail still goes out."""
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in range(3))
    )
    enqueue(low_stock(), [email_plan(u) for u in range(3)])
    asked = []

    def schedule(expiry):
        asked.append(expiry)
        raise RuntimeError("no scheduler table")

    before = timezone.now()
    d = Dispatcher(directory, channels, policy=FAST, group_interval=timedelta(0), on_claim=schedule)
    d.drain(budget_seconds=5)
    assert len(asked) == 1 and before + FAST.lease <= asked[0] <= timezone.now() + FAST.lease
    assert sorted(r[0] for r, _ in smtp.messages) == [f"u{u}@example.com" for u in range(3)]
    assert counts()["sent"] == 3
