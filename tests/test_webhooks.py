"""Signed outgoing webhooks: what a receiver gets, verified with ``standardwebhooks`` itself.

A loopback receiver (``SignedWebhookStandIn``) verifies every request's signature the way a
real one would; the tests count what it accepted, under which webhook-id, with what document.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from inventree_notify_plus.channels import CHANNELS, RenderContext
from inventree_notify_plus.channels.base import Destination, Outcome, Skip
from inventree_notify_plus.channels.webhook import (
    WebhookChannel,
    classify_webhook_response,
    message_id,
    retry_after_seconds,
)
from inventree_notify_plus.devtools.standins import Answer
from inventree_notify_plus.devtools.webhook_standin import SignedWebhookStandIn
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.notice import Fact, Notice, Severity
from inventree_notify_plus.outbox.destinations import SettingsDirectory
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import delivery_key, enqueue
from inventree_notify_plus.routing.config import Recipient, RoutingConfig, WebhookDestination
from inventree_notify_plus.routing.configured import from_settings
from inventree_notify_plus.routing.plan import plan
from inventree_notify_plus.validation import (
    generate_webhook_secret,
    validate_webhook_secret,
    validate_webhook_url,
)

from .conftest import directory as make_directory
from .conftest import fast, low_stock

FAST = RetryPolicy(base_seconds=0.05, cap_seconds=0.2, max_attempts=8)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the specification's example secret
KEY = "webhook:erp"


@pytest.fixture
def receiver():
    with SignedWebhookStandIn(SECRET) as server:
        yield server


@pytest.fixture
def hook_channels():
    ctx = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
    return {"webhook": fast(WebhookChannel(ctx, timeout=2))}


def destination(url: str, secret: str = SECRET) -> Destination:
    return Destination(
        "webhook", KEY, url, "webhook 'erp' (http://127.0.0.1/hooks/***)", secret=secret
    )


def config(url: str, secret: str = SECRET) -> RoutingConfig:
    return RoutingConfig(
        email_enabled=False,
        destinations=[WebhookDestination("webhook", "erp", url)],
        default_to=(KEY,),
        webhook_secret=secret,
    )


def part_notice(**kw) -> Notice:
    notice = replace(
        low_stock("M3 screw", 12),
        object_ref="part.part:12",
        episode="low_stock:part:12@2026-12-01T10:00:00+00:00",
    )
    return replace(notice, **kw)


PEOPLE = [
    Recipient(1, "Alice Smith", "alice@example.com", username="alice"),
    Recipient(2, "Bob", "bob@example.com", username="bob"),
]


def dispatcher(dest: Destination, channels) -> Dispatcher:
    return Dispatcher(
        make_directory(dest), channels, policy=FAST, group_interval=timedelta(seconds=60)
    )


def queue(notice: Notice, url: str, people=PEOPLE) -> None:
    planned = plan(notice, people, config(url), timezone.now())
    assert [p.destination for p in planned] == [KEY]
    enqueue(notice, planned)


@pytest.mark.django_db(transaction=True)
def test_a_notice_arrives_once_signed_and_verified(receiver, hook_channels):
    queue(part_notice(), receiver.url)
    dispatcher(destination(receiver.url), hook_channels).drain(budget_seconds=5)
    assert len(receiver.received) == 1 and receiver.failed == []
    (request,) = receiver.accepted
    row = Delivery.objects.get()
    assert row.status == "sent"
    # The webhook-id is the delivery's own key, and what the delivery log keeps as its id.
    assert request.webhook_id == f"msg_{row.key}" == row.external_id
    assert row.key == delivery_key(part_notice().uid, KEY)
    assert request.headers["content-type"] == "application/json"


@pytest.mark.django_db(transaction=True)
def test_the_document_carries_the_notice_its_object_recipients_and_episode(receiver, hook_channels):
    queue(part_notice(), receiver.url)
    dispatcher(destination(receiver.url), hook_channels).drain(budget_seconds=5)
    body = receiver.accepted[0].json()
    assert body["version"] == 1
    assert body["type"] == "notice.firing"
    assert body["category"] == "part.notify_low_stock"
    assert body["object"] == {
        "type": "part",
        "model": "part.part",
        "pk": 12,
        "url": "http://inventree.local/part/12/",
    }
    assert body["title"] == "Low stock: M3 screw"
    assert body["severity"] == "warning"
    assert {"label": "Available", "value": "3 pcs"} in body["facts"]
    assert body["lines"] == []
    assert body["recipients"] == ["alice", "bob"]
    assert body["episode"] == {
        "id": "low_stock:part:12@2026-12-01T10:00:00+00:00",
        "state": "firing",
    }
    assert body["instance"] == {"name": "Workshop", "url": "http://inventree.local"}
    assert body["sent_at"].endswith("Z")


def test_a_resolution_is_a_notice_resolved_document_with_its_lines():
    channel = WebhookChannel()
    notice = part_notice(
        uid="resolved-1",
        state="resolved",
        lines=(),
        severity=Severity.INFO,
        facts=(Fact("Available", "12 pcs"),),
    )
    (doc,) = channel.render(destination("https://erp.example.com/h"), [notice], ["carol"])
    assert doc["type"] == "notice.resolved"
    assert doc["episode"]["state"] == "resolved" and doc["recipients"] == ["carol"]
    assert doc["object"]["pk"] == 12


@pytest.mark.django_db(transaction=True)
def test_503_is_retried_with_the_same_webhook_id_into_one_accepted_delivery(
    receiver, hook_channels
):
    receiver.fail_times(503, 2).then(Answer(500, "boom"))
    queue(part_notice(), receiver.url)
    dispatcher(destination(receiver.url), hook_channels).drain(budget_seconds=10)
    assert receiver.failed == []  # every attempt was freshly and correctly signed
    assert [r.status for r in receiver.received] == [503, 503, 500, 204]
    assert len({r.webhook_id for r in receiver.received}) == 1
    assert len(receiver.accepted) == 1 and len(receiver.unique) == 1
    row = Delivery.objects.get()
    assert row.status == "sent" and row.attempts == 4


@pytest.mark.django_db(transaction=True)
def test_429_waits_as_the_receiver_asks(receiver, hook_channels):
    receiver.fail_times(429, 1, retry_after="2")
    queue(part_notice(), receiver.url)
    d = dispatcher(destination(receiver.url), hook_channels)
    before = timezone.now()
    assert d.run_once() == 0.0  # one attempt, answered 429
    row = Delivery.objects.get()
    assert row.status == "pending" and row.attempts == 0  # a rate limit is not a failure
    assert row.due_at >= before + timedelta(seconds=2)
    assert "429" in row.last_error
    d.drain(budget_seconds=6)
    assert len(receiver.accepted) == 1 and Delivery.objects.get().status == "sent"
    assert len({r.webhook_id for r in receiver.received}) == 1


@pytest.mark.django_db(transaction=True)
def test_a_wrong_secret_is_caught_by_the_receiver_and_the_delivery_fails(receiver, hook_channels):
    other = generate_webhook_secret()
    queue(part_notice(), receiver.url)
    dispatcher(destination(receiver.url, secret=other), hook_channels).drain(budget_seconds=5)
    assert receiver.accepted == [] and len(receiver.failed) == 1
    assert "signature" in receiver.failed[0].error.lower()
    row = Delivery.objects.get()
    assert row.status == "failed" and row.attempts == 1
    assert "401" in row.last_error and "signature did not verify" in row.last_error


@pytest.mark.django_db(transaction=True)
def test_each_notice_of_a_burst_is_its_own_signed_post(receiver, hook_channels):
    """No digest for webhooks: each notice keeps its own webhook-id (see docs/webhooks.md)."""
    for n in range(5):
        queue(replace(low_stock(f"Part {n}", n), object_ref=f"part.part:{n}"), receiver.url)
    dispatcher(destination(receiver.url), hook_channels).drain(budget_seconds=5)
    assert receiver.failed == [] and len(receiver.unique) == len(receiver.accepted) == 5
    assert sorted(r.json()["object"]["pk"] for r in receiver.accepted) == list(range(5))
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_other_4xx_is_permanent_with_the_answer_truncated_and_the_url_scrubbed():
    url = "https://erp.example.com/hooks/T0KEN-IN-PATH"
    result = classify_webhook_response(400, f"bad request at {url} " + "x" * 1000, {}, "msg_1", url)
    assert result.outcome == Outcome.PERMANENT and result.status == 400
    assert "T0KEN-IN-PATH" not in result.detail and "(truncated)" in result.detail
    assert len(result.detail) < 400
    redirect = classify_webhook_response(302, "", {"Location": "x"}, "msg_1", url)
    assert redirect.outcome == Outcome.PERMANENT and "redirect" in redirect.detail
    for status in (408, 500, 502, 503):
        assert classify_webhook_response(status, "", {}, "m").outcome == Outcome.RETRY
    sent = classify_webhook_response(202, "", {}, "msg_7")
    assert sent.outcome == Outcome.SENT and sent.external_id == "msg_7"


def test_retry_after_as_seconds_or_http_date():
    now = timezone.now()
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= retry_after_seconds(later, now) <= 31


def test_a_receiver_that_is_down_is_retried():
    channel = WebhookChannel(timeout=1)
    result = channel.send(destination("http://127.0.0.1:9/hooks/x"), [part_notice()], [])
    assert result.outcome == Outcome.RETRY


def test_message_id_is_stable_per_notice_and_destination():
    notice = part_notice()
    assert (
        message_id(KEY, notice) == message_id(KEY, notice) == f"msg_{delivery_key(notice.uid, KEY)}"
    )
    assert message_id("webhook:other", notice) != message_id(KEY, notice)


# -- settings, routing, directory --------------------------------------------------------------


def test_url_validator_takes_https_and_http_only_to_allowed_hosts(monkeypatch):
    monkeypatch.delenv("INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS", raising=False)
    validate_webhook_url("https://erp.example.com/hooks/inventree")
    validate_webhook_url("")
    with pytest.raises(ValidationError, match="https"):
        validate_webhook_url("http://erp.example.com/hooks")
    with pytest.raises(ValidationError, match="https"):
        validate_webhook_url("ftp://erp.example.com/hooks")
    with pytest.raises(ValidationError, match="host"):
        validate_webhook_url("https:///nohost")
    monkeypatch.setenv("INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS", "127.0.0.1")
    validate_webhook_url("http://127.0.0.1:8157/hooks")


def test_secret_validator_takes_the_whsec_form_and_never_repeats_the_value():
    validate_webhook_secret(SECRET)
    validate_webhook_secret(generate_webhook_secret())
    validate_webhook_secret("")
    for bad in (
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_not base64!!",
        "whsec_c2hvcnQ=",  # 5 bytes
        "whsec_" + "A" * 200,  # too long
    ):
        with pytest.raises(ValidationError) as caught:
            validate_webhook_secret(bad)
        assert bad not in str(caught.value) and "whsec_" in str(caught.value)


def test_generated_secrets_are_fresh_32_byte_whsec_secrets():
    import base64

    one, two = generate_webhook_secret(), generate_webhook_secret()
    assert one != two and one.startswith("whsec_")
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32


def settings_with(**extra) -> dict:
    base = {
        "EMAIL_ENABLE": True,
        "SLACK_WEBHOOK_URL": "",
        "SLACK_EXTRA_WEBHOOKS": "",
        "DISCORD_WEBHOOK_URL": "",
        "DISCORD_EXTRA_WEBHOOKS": "",
        "ROUTES": "",
        "NOTIFICATIONS_LOW_STOCK": True,
        "NOTIFICATIONS_RECOVERY": False,
        "WEBHOOK_URLS": "",
        "WEBHOOK_SECRET": "",
    }
    return {**base, **extra}


def test_webhook_urls_become_named_destinations_and_default_takes_unmatched_notices():
    cfg = from_settings(
        settings_with(
            WEBHOOK_URLS="default=https://n8n.example.com/hook erp=https://erp.example.com/h",
            WEBHOOK_SECRET=SECRET,
            ROUTES='[{"category": ["build.stock_required"], "to": ["webhook:erp"]}]',
        )
    )
    assert [d.key for d in cfg.destinations] == ["webhook:default", "webhook:erp"]
    assert cfg.problems == [] and cfg.webhook_secret == SECRET
    assert SECRET not in repr(cfg)
    planned = plan(part_notice(), PEOPLE, cfg, timezone.now())
    webhook = [p for p in planned if p.channel == "webhook"]
    assert [p.destination for p in webhook] == ["webhook:default"]
    assert webhook[0].mentions == ("alice", "bob") and webhook[0].groupable is False
    assert webhook[0].label == "webhook 'default' (https://n8n.example.com/hook/***)"


def test_without_a_secret_webhooks_are_reported_and_skipped_never_sent_unsigned():
    cfg = from_settings(settings_with(WEBHOOK_URLS="erp=https://erp.example.com/h"))
    assert any("secret" in p for p in cfg.problems)
    resolved = SettingsDirectory(cfg).resolve("webhook:erp")
    assert isinstance(resolved, Skip) and "secret" in resolved.reason
    unsigned = WebhookChannel().send(
        destination("https://erp.example.com/h", secret=""), [part_notice()]
    )
    assert unsigned.outcome == Outcome.PERMANENT


def test_the_directory_resolves_a_webhook_with_its_secret_and_a_masked_label():
    cfg = from_settings(
        settings_with(WEBHOOK_URLS="erp=https://erp.example.com/hooks/T0KEN", WEBHOOK_SECRET=SECRET)
    )
    resolved = SettingsDirectory(cfg).resolve("webhook:erp")
    assert isinstance(resolved, Destination)
    assert resolved.secret == SECRET and resolved.address.endswith("T0KEN")
    assert "T0KEN" not in resolved.label and SECRET not in repr(resolved)
    assert isinstance(SettingsDirectory(cfg).resolve("webhook:gone"), Skip)
    assert CHANNELS["webhook"] is WebhookChannel


@pytest.mark.django_db(transaction=True)
def test_the_secret_and_the_url_never_reach_the_log_or_the_delivery_log(
    receiver, hook_channels, caplog
):
    caplog.set_level(logging.DEBUG)
    receiver.fail_times(503, 1).then(Answer(400, "no thanks"))
    queue(part_notice(), receiver.url)
    dispatcher(destination(receiver.url), hook_channels).drain(budget_seconds=5)
    row = Delivery.objects.get()
    assert row.status == "failed" and "no thanks" in row.last_error
    raw_secret = SECRET.removeprefix("whsec_")
    assert raw_secret not in caplog.text  # every logger, DEBUG included
    # urllib3 logs request paths at DEBUG (as for every requests-based channel); ours do not.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("urllib3"))
    assert "webhook delivery to webhook 'erp'" in ours
    for text in (ours, row.last_error, row.destination_label):
        assert raw_secret not in text and "/hooks/inventree" not in text


# -- Health: a destination failing for 24 h ----------------------------------------------------


def _row(n: int, dest: str, status: str, created_hours_ago: float, **kw) -> Delivery:
    now = timezone.now()
    at = now - timedelta(hours=created_hours_ago)
    row = Delivery.objects.create(
        key=f"k{n}",
        notice_uid=f"n{n}",
        category="part.notify_low_stock",
        title=f"Low stock {n}",
        channel=dest.partition(":")[0],
        destination=dest,
        destination_label=f"{dest} (masked)",
        status=status,
        created_at=at,
        **kw,
    )
    Delivery.objects.filter(pk=row.pk).update(updated_at=kw.get("sent_at") or now)
    return row


@pytest.mark.django_db
def test_health_names_a_destination_failing_for_24_hours_and_only_that_one():
    from inventree_notify_plus.outbox.failing import failing_destinations

    now = timezone.now()
    # erp: last success 3 days ago, failing since 30 h (failed and still retrying).
    _row(1, "webhook:erp", "sent", 72, sent_at=now - timedelta(hours=72))
    _row(2, "webhook:erp", "failed", 30, attempts=10, last_error="receiver answered 503")
    _row(3, "webhook:erp", "pending", 2, attempts=3, last_error="receiver answered 503")
    # n8n: never worked, but only for 2 h: not yet a day.
    _row(4, "webhook:n8n", "failed", 2, attempts=10, last_error="refused")
    # slack: failed 30 h ago, then succeeded an hour ago.
    _row(5, "slack:default", "failed", 30, attempts=10, last_error="500")
    _row(6, "slack:default", "sent", 1, sent_at=now - timedelta(hours=1))
    # discord: never sent anything, failing for 26 h.
    _row(7, "discord:ops", "failed", 26, attempts=10, last_error="Discord answered 404")

    found = failing_destinations(now)
    assert [f.destination for f in found] == ["webhook:erp", "discord:ops"]
    erp = found[0]
    assert erp.failures == 2 and erp.last_sent is not None
    assert "webhook:erp (masked): every delivery has failed for over 24 h" in erp.warning()
    assert "receiver answered 503" in erp.warning()
    assert "never sent" in found[1].warning()
