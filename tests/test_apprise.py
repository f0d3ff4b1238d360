"""Apprise destinations through REAL Apprise plugins (ntfy, Mattermost, JSON) to loopback stand-ins.

What arrived where, how many times: one notice arrives once; 500 and 503 are retried into one
delivery; a 429 waits as the server asked; a burst of 60 becomes a few digests under the
stand-in's limit at the default grouping; bad URLs are refused with the entry named and the
token never repeated; no URL token reaches a log, an error or a label.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from inventree_notify_plus.channels import AppriseChannel, RenderContext
from inventree_notify_plus.channels.apprise_channel import limit_for_url
from inventree_notify_plus.channels.apprise_urls import mask_apprise_url, validate_apprise_url
from inventree_notify_plus.channels.base import Destination, Outcome
from inventree_notify_plus.devtools.standins import Answer, AppriseStandIn
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.outbox.destinations import SettingsDirectory
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.config import parse_destinations, parse_routes
from inventree_notify_plus.routing.configured import from_settings, masked_destinations
from inventree_notify_plus.routing.plan import PlannedDelivery, plan

from .conftest import EVIL, low_stock
from .conftest import directory as make_directory
from .test_on_time import SimulatedTime, run_worker

KINDS = ("ntfy", "mattermost", "json")
FAST = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=8)
CONTEXT = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
TOKEN = AppriseStandIn.TOKEN


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    """The stand-ins speak plain http on 127.0.0.1, which the admin must allow."""
    monkeypatch.setenv("INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS", "127.0.0.1")


@pytest.fixture(params=KINDS)
def standin(request):
    with AppriseStandIn(request.param) as server:
        yield server


def setup(standin, interval: float = 60.0, policy: RetryPolicy = FAST):
    """A dispatcher at the default grouping sending to ``apprise:x`` (the stand-in)."""
    key = "apprise:x"
    channel = AppriseChannel(CONTEXT, timeout=2)
    channel.urls = {key: standin.url}
    directory = make_directory(Destination("apprise", key, standin.url, "apprise 'x'"))
    dispatcher = Dispatcher(
        directory, {"apprise": channel}, policy=policy, group_interval=timedelta(seconds=interval)
    )
    return dispatcher, PlannedDelivery("apprise", key, "apprise 'x'")


@pytest.mark.django_db(transaction=True)
def test_one_notice_arrives_once_with_its_name_inert(standin):
    dispatcher, planned = setup(standin)
    enqueue(low_stock(EVIL), [planned])
    dispatcher.drain(budget_seconds=10)
    assert len(standin.accepted) == 1
    body = standin.bodies()[0]
    # Mentions defused (a zero-width space after @ and <), nothing pings.
    assert "@here" not in body and "@channel" not in body and "<@" not in body and "<!" not in body
    assert "Open in InvenTree" in body and "http://inventree.local/part/1/" in body
    row = Delivery.objects.get()
    assert row.status == "sent" and row.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_500_and_503_retried_into_exactly_one_delivery(standin):
    standin.then(Answer(500, "boom"), Answer(503, "busy"))
    dispatcher, planned = setup(standin)
    enqueue(low_stock("Bolt"), [planned])
    dispatcher.drain(budget_seconds=10)
    assert len(standin.accepted) == 1
    assert standin.requests == 3
    assert Delivery.objects.get().status == "sent"


@pytest.mark.django_db(transaction=True)
def test_429_waits_as_the_server_asked(standin):
    standin.then(standin.rate_limit_answer(2.0))  # Retry-After: 2
    dispatcher, planned = setup(standin)
    enqueue(low_stock("Nut"), [planned])
    started = time.monotonic()
    before = timezone.now()
    dispatcher.run_once()
    row = Delivery.objects.get()
    assert row.status == "pending" and row.attempts == 0  # a 429 is not a failed attempt
    assert row.due_at >= before + timedelta(seconds=1.9)
    dispatcher.drain(budget_seconds=10)
    assert len(standin.accepted) == 1 and standin.requests == 2
    assert standin.accepted_at[0] - started >= 1.9
    assert Delivery.objects.get().status == "sent"


@pytest.mark.django_db(transaction=True)
def test_404_is_permanent_with_the_services_answer(standin):
    standin.then(Answer(404, "no such hook"))
    dispatcher, planned = setup(standin)
    enqueue(low_stock("Washer"), [planned])
    dispatcher.drain(budget_seconds=5)
    row = Delivery.objects.get()
    assert row.status == "failed" and row.attempts == 1 and standin.requests == 1
    assert "HTTP 404" in row.last_error and "FAILURE" in row.last_error
    assert TOKEN not in row.last_error


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_60_becomes_a_few_digests_under_the_limit():
    """At the default grouping (60 s), on a clock the test moves; the stand-in counts real time."""
    with AppriseStandIn("ntfy", rate_limit=(5, 0.2)) as ntfy:
        clock = SimulatedTime()

        def make() -> Dispatcher:
            return setup(ntfy)[0]

        planned = setup(ntfy)[1]
        for n in range(60):
            clock.at(n * 0.1, lambda now, n=n: enqueue(low_stock(f"Part {n}", n), [planned], now))
        run_worker(clock, make)
        assert ntfy.rate_limited == 0
        assert 2 <= len(ntfy.accepted) <= 4
        # The first message is the notice itself, each digest lists one notice per line.
        listed = [ntfy.titles()[0]] + [
            line for body in ntfy.bodies()[1:] for line in body.splitlines()
        ]
        parts = [
            int(m) for line in listed for m in re.findall(r"Low stock: Part (\d+) ", line + " ")
        ]
        assert sorted(parts) == list(range(60))  # each notice exactly once
        assert Delivery.objects.filter(status="sent").count() == 60
        titles = ntfy.titles()
        assert titles[0] == "Low stock: Part 0"
        assert all(t.startswith(("30 notifications", "29 notifications")) for t in titles[1:])


def test_service_limits_come_from_the_service():
    assert limit_for_url("ntfys://ntfy.sh/stores").burst == 60
    assert limit_for_url("tgram://123456789:AAAA/42").per_second < 1
    assert limit_for_url("gotifys://gotify.example.com/token").burst == 5  # unknown: default


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "looks like"),
        ("bogus://example.com/x", "does not know the service 'bogus://'"),
        ("mmosts://", "could not read"),
        ("json://example.com/hook", "unencrypted to example.com"),
    ],
)
def test_validator_refuses_with_the_exact_problem(url, problem):
    with pytest.raises(ValidationError) as caught:
        validate_apprise_url(url)
    assert problem in " ".join(caught.value.messages)


def test_setting_validator_names_the_entry_never_the_token():
    from inventree_notify_plus.settings import SETTINGS

    validate = SETTINGS["APPRISE_URLS"]["validator"]
    validate(f"phones=ntfys://ntfy.sh/stores ops=mmosts://chat.example.com/{TOKEN}")
    with pytest.raises(ValidationError) as caught:
        validate(f"ops=bogus://chat.example.com/{TOKEN}")
    text = " ".join(caught.value.messages)
    assert "'ops'" in text and TOKEN not in text
    with pytest.raises(ValidationError, match="reserved"):
        validate("default=ntfys://ntfy.sh/x")
    with pytest.raises(ValidationError, match="given twice"):
        validate("a=ntfys://ntfy.sh/x a=ntfys://ntfy.sh/y")


def test_routes_name_apprise_destinations_and_labels_are_masked():
    url = f"mmosts://chat.example.com/{TOKEN}"
    settings = {
        "SLACK_WEBHOOK_URL": "",
        "SLACK_EXTRA_WEBHOOKS": "",
        "DISCORD_WEBHOOK_URL": "",
        "DISCORD_EXTRA_WEBHOOKS": "",
        "APPRISE_URLS": f"ops={url} phones=ntfys://ntfy.sh/stores",
        "ROUTES": '[{"category": ["part.notify_low_stock"], "to": ["apprise:ops", "apprise:phones"]}]',
        "EMAIL_ENABLE": False,
        "NOTIFICATIONS_LOW_STOCK": True,
        "NOTIFICATIONS_RECOVERY": False,
    }
    config = from_settings(settings)
    assert not config.problems
    planned = plan(low_stock(), [], config, timezone.now())
    assert [p.destination for p in planned] == ["apprise:ops", "apprise:phones"]
    assert all(TOKEN not in p.label for p in planned)
    shown = masked_destinations(config)
    assert {d["key"] for d in shown} == {"apprise:ops", "apprise:phones"}
    assert all(TOKEN not in d["url"] for d in shown)
    assert parse_routes(settings["ROUTES"], [d.key for d in config.destinations])
    assert [d.name for d in parse_destinations("apprise", settings["APPRISE_URLS"])] == [
        "ops",
        "phones",
    ]
    assert TOKEN not in mask_apprise_url(url)


@pytest.mark.django_db
def test_directory_resolves_apprise_with_a_masked_label():
    config = from_settings(
        {
            "SLACK_WEBHOOK_URL": "",
            "SLACK_EXTRA_WEBHOOKS": "",
            "DISCORD_WEBHOOK_URL": "",
            "DISCORD_EXTRA_WEBHOOKS": "",
            "APPRISE_URLS": f"ops=mmosts://chat.example.com/{TOKEN}",
            "ROUTES": "",
            "EMAIL_ENABLE": False,
            "NOTIFICATIONS_LOW_STOCK": True,
            "NOTIFICATIONS_RECOVERY": False,
        }
    )
    found = SettingsDirectory(config).resolve("apprise:ops")
    assert found.address.endswith(TOKEN) and found.label.startswith("apprise 'ops' (mmosts://")
    assert TOKEN not in found.label


def test_no_url_or_token_in_logs_errors_or_answers(caplog):
    caplog.set_level(logging.DEBUG)
    for kind in KINDS:
        with AppriseStandIn(kind) as standin:
            standin.then(Answer(404, f"no hook {TOKEN}"))
            channel = AppriseChannel(CONTEXT, timeout=2)
            destination = Destination("apprise", "apprise:x", standin.url, "x")
            failed = channel.send(destination, [low_stock()])
            sent = channel.send(destination, [low_stock()])
            assert failed.outcome == Outcome.PERMANENT and sent.outcome == Outcome.SENT
            assert TOKEN not in failed.detail + sent.detail
    apprise_lines = [r.getMessage() for r in caplog.records if r.name.startswith("apprise")]
    assert apprise_lines  # Apprise did log (at debug: payloads, URLs, answers)
    assert not [line for line in apprise_lines if TOKEN in line]
    assert TOKEN not in caplog.text


def test_markdown_services_get_escaped_markdown_text_services_plain_text():
    channel = AppriseChannel(CONTEXT)
    markdown = channel.render(
        Destination("apprise", "apprise:j", "jsons://example.com/x", "j"),
        [low_stock("*Bold* <@1>")],
    )
    assert markdown.body_format == "markdown" and r"\*Bold\*" in markdown.body
    assert "[Open in InvenTree](http://inventree.local/part/1/)" in markdown.body
    text = channel.render(
        Destination("apprise", "apprise:n", "ntfys://ntfy.sh/x", "n"), [low_stock("*Bold* <@1>")]
    )
    assert text.body_format == "text" and "*Bold*" in text.body and "<@1>" not in text.body
    assert text.notify_type == "warning"


def test_nobody_listening_is_retried_not_failed():
    from inventree_notify_plus.devtools.standins import free_port

    channel = AppriseChannel(CONTEXT, timeout=2)
    url = f"ntfy://127.0.0.1:{free_port()}/stores-{TOKEN}"
    result = channel.send(Destination("apprise", "apprise:x", url, "x"), [low_stock()])
    assert result.outcome == Outcome.RETRY and result.status is None
    assert TOKEN not in result.detail


def test_each_destination_gets_its_services_bucket():
    channel = AppriseChannel(CONTEXT)
    channel.urls = {"apprise:phones": "ntfys://ntfy.sh/x", "apprise:chat": "tgram://123:AAA/42"}
    assert channel.limit_for("apprise:phones") == limit_for_url("ntfys://ntfy.sh/x")
    assert channel.limit_for("apprise:chat").burst == 1
    assert channel.limit_for("apprise:unknown") == channel.rate_limit


def test_a_message_longer_than_the_service_takes_arrives_in_parts_nothing_lost():
    """Mattermost takes 4000 characters: a digest of 30 long titles is split by Apprise."""
    with AppriseStandIn("mattermost") as mattermost:
        channel = AppriseChannel(CONTEXT, timeout=2)
        notices = [low_stock(f"Part {n} " + "x" * 150, n) for n in range(30)]
        destination = Destination("apprise", "apprise:x", mattermost.url, "x")
        assert channel.send(destination, notices).outcome == Outcome.SENT
        text = "".join(mattermost.bodies())
        assert len(mattermost.accepted) >= 2
        assert all(f"Part {n} " in text for n in range(30))
