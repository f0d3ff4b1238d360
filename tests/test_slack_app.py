"""Slack app mode against the Web API stand-in: what was posted, edited and threaded, and how
Slack's answers are classified; the settings' validators; the token never shown."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from django.core.exceptions import ValidationError

from inventree_notify_plus.channels import CHANNELS, Outcome, RenderContext, SlackAppChannel
from inventree_notify_plus.channels.base import Destination, SentMessage, Skip
from inventree_notify_plus.devtools.slack_api_standin import STANDIN_TOKEN, SlackApiStandIn
from inventree_notify_plus.devtools.standins import Answer
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.notice import Notice
from inventree_notify_plus.outbox.destinations import SettingsDirectory
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.configured import from_settings, masked_destinations
from inventree_notify_plus.routing.plan import plan
from inventree_notify_plus.routing.slack_app import app_names_clash, parse_app_channels
from inventree_notify_plus.validation import (
    SLACK_API_URL_ENV,
    slack_api_url,
    validate_slack_bot_token,
)

from .conftest import fast, low_stock

CHANNEL = "C0STANDIN1"


@pytest.fixture
def api():
    with SlackApiStandIn(channels=(CHANNEL, "C0OTHER001"), outside=("C0OUTSIDE1",)) as server:
        yield server


@pytest.fixture
def app(api):
    ctx = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
    return fast(SlackAppChannel(ctx, timeout=2, api_url=api.url))


def dest(channel: str = CHANNEL, token: str = STANDIN_TOKEN) -> Destination:
    return Destination(
        "slack_app", "slack:ops", channel, f"slack app 'ops' (#{channel})", credential=token
    )


def settings(**values: str) -> dict:
    base = {
        "SLACK_WEBHOOK_URL": "",
        "SLACK_EXTRA_WEBHOOKS": "",
        "DISCORD_WEBHOOK_URL": "",
        "DISCORD_EXTRA_WEBHOOKS": "",
        "ROUTES": "",
        "EMAIL_ENABLE": True,
        "NOTIFICATIONS_LOW_STOCK": True,
        "NOTIFICATIONS_RECOVERY": False,
        "SLACK_BOT_TOKEN": STANDIN_TOKEN,
        "SLACK_APP_CHANNELS": f"ops={CHANNEL}",
    }
    return {**base, **values}


def episode(notice: Notice, name: str) -> Notice:
    return replace(notice, episode=f"low_stock:part:{name}@2026-12-02T00:00:00+00:00")


def recovered(notice: Notice) -> Notice:
    return replace(
        notice,
        uid=notice.uid + "-r",
        category="notify_plus.low_stock_recovered",
        title=notice.title.replace("Low stock", "Stock recovered"),
        summary="Available stock is back at or above the minimum (25 of 20).",
        state="resolved",
    )


def header(blocks: list[dict]) -> str:
    return blocks[0]["text"]["text"]


# -- posting ---------------------------------------------------------------------------------


def test_post_keeps_the_ts_slack_answered(api, app):
    result = app.send(dest(), [low_stock("M3 screw")], ["U0123ABCD"])
    assert result.outcome == Outcome.SENT
    [message] = api.posts(CHANNEL)
    assert result.external_id == message["ts"] != ""
    assert header(message["blocks"]) == "Low stock: M3 screw"
    assert "<@U0123ABCD>" in message["text"]
    assert api.calls[0][0] == "chat.postMessage"


def test_outbox_stores_the_ts_on_the_delivery(api, app, db):
    config = from_settings(settings(SLACK_APP_CHANNELS=f"default={CHANNEL}"))
    notice = low_stock("Bolt M8")
    enqueue(notice, plan(notice, [], config, _now()))
    directory = SettingsDirectory(config)
    Dispatcher(directory, dict(CHANNELS, slack_app=app), policy=RetryPolicy()).drain(
        budget_seconds=5, wait=False
    )
    row = Delivery.objects.get()
    assert (row.channel, row.destination, row.status) == ("slack_app", "slack:default", "sent")
    assert row.external_id == api.posts()[0]["ts"]
    assert row.destination_label == f"slack app 'default' (#{CHANNEL})"


# -- resolving ---------------------------------------------------------------------------------


def test_update_edits_the_original_and_replies_in_its_thread(api, app):
    firing = episode(low_stock("M3 screw"), "1")
    sent = app.send(dest(), [firing])
    result = app.update(dest(), SentMessage(sent.external_id, (firing,)), [recovered(firing)])
    assert result.outcome == Outcome.SENT, result.detail
    [message] = api.posts(CHANNEL)  # nothing new at the top of the channel
    [edit] = message["edits"]
    assert header(edit["blocks"]).startswith("✅ Resolved: Low stock: M3 screw")
    assert "back at or above the minimum (25 of 20)" in str(edit["blocks"])
    [reply] = api.replies(message["ts"])
    assert header(reply["blocks"]) == "Stock recovered: M3 screw"
    assert [c[0] for c in api.calls] == ["chat.postMessage", "chat.update", "chat.postMessage"]


def test_update_of_a_digest_marks_only_the_resolved_line(api, app):
    screw, nut = episode(low_stock("M3 screw", 1), "1"), episode(low_stock("M3 nut", 2), "2")
    sent = app.send(dest(), [screw, nut])
    app.update(dest(), SentMessage(sent.external_id, (screw, nut)), [recovered(nut)])
    lines = str(api.posts()[0]["edits"][0]["blocks"])
    assert "✅ Resolved: Low stock: M3 nut" in lines
    assert "✅ Resolved: Low stock: M3 screw" not in lines and "Low stock: M3 screw" in lines


def test_reply_goes_under_the_original(api, app):
    firing = episode(low_stock("M3 screw"), "1")
    sent = app.send(dest(), [firing])
    reminder = replace(firing, uid="reminder", title="Still low: M3 screw", state="reminder")
    result = app.reply(dest(), SentMessage(sent.external_id, (firing,)), [reminder])
    assert result.outcome == Outcome.SENT
    [reply] = api.replies(sent.external_id)
    assert result.external_id == reply["ts"] and header(reply["blocks"]) == "Still low: M3 screw"


def test_update_retried_when_the_thread_reply_is_rate_limited(api, app):
    firing = episode(low_stock("M3 screw"), "1")
    sent = app.send(dest(), [firing])
    original = SentMessage(sent.external_id, (firing,))
    api.then(Answer(200, {"ok": True, "ts": sent.external_id}), api.ratelimited(30))
    first = app.update(dest(), original, [recovered(firing)])
    assert first.outcome == Outcome.RETRY and first.retry_after == 30
    second = app.update(dest(), original, [recovered(firing)])
    assert second.outcome == Outcome.SENT
    assert len(api.replies(sent.external_id)) == 1  # the reply once, not twice


# -- Slack's answers -----------------------------------------------------------------------------


def test_not_in_channel_is_permanent_with_slacks_word(api, app):
    result = app.send(dest("C0OUTSIDE1"), [low_stock()])
    assert result.outcome == Outcome.PERMANENT
    assert result.detail.startswith("not_in_channel")
    assert "/invite" in result.detail
    assert api.messages == []


@pytest.mark.parametrize(
    ("destination", "word"),
    [
        (dest(token="xoxb-1111111111-wrong-token"), "invalid_auth"),
        (dest("C0NOSUCH01"), "channel_not_found"),
    ],
)
def test_refusals_are_permanent(api, app, destination, word):
    result = app.send(destination, [low_stock()])
    assert (result.outcome, result.detail.split(" ")[0]) == (Outcome.PERMANENT, word)


def test_account_inactive_is_permanent(api, app):
    api.then(Answer(200, {"ok": False, "error": "account_inactive"}))
    result = app.send(dest(), [low_stock()])
    assert result.outcome == Outcome.PERMANENT and result.detail.startswith("account_inactive")


def test_long_ratelimit_goes_back_to_the_outbox(api, app):
    api.then(api.ratelimited(30))
    result = app.send(dest(), [low_stock()])
    assert (result.outcome, result.retry_after, result.status) == (Outcome.RETRY, 30.0, 429)
    assert api.messages == [] and len(api.calls) == 1  # no second try inside the worker


def test_short_ratelimit_is_waited_out_by_slack_sdk(api, app):
    api.then(api.ratelimited(0))
    result = app.send(dest(), [low_stock("M3 screw")])
    assert result.outcome == Outcome.SENT
    assert len(api.posts()) == 1 and len(api.calls) == 2


@pytest.mark.parametrize("answer", [Answer(500, {"ok": False}), Answer(503, "down")])
def test_server_errors_are_retried(api, app, answer):
    api.then(answer)
    assert app.send(dest(), [low_stock()]).outcome == Outcome.RETRY


def test_connection_refused_is_retried(app):
    app.api_url = "http://127.0.0.1:9/api/"
    assert app.send(dest(), [low_stock()]).outcome == Outcome.RETRY


def test_api_url_http_only_for_allowed_hosts(monkeypatch):
    monkeypatch.delenv(SLACK_API_URL_ENV, raising=False)
    assert slack_api_url() == "https://slack.com/api/"
    monkeypatch.setenv(SLACK_API_URL_ENV, "http://127.0.0.1:8116/api/")
    monkeypatch.setenv("INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS", "example.org")
    with pytest.raises(ValidationError, match="ALLOWED_HOSTS"):
        slack_api_url()
    monkeypatch.setenv("INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS", "127.0.0.1")
    assert slack_api_url() == "http://127.0.0.1:8116/api/"


def test_a_refused_api_url_fails_the_send_saying_why(monkeypatch):
    monkeypatch.setenv(SLACK_API_URL_ENV, "http://slack.example.org/api/")
    monkeypatch.delenv("INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS", raising=False)
    result = SlackAppChannel().send(dest(), [low_stock()])
    assert result.outcome == Outcome.PERMANENT and SLACK_API_URL_ENV in result.detail


# -- settings and routing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["xoxp-1234567890-user-token", "xoxb-short", "my-token-123", "https://hooks.slack.com/x"],
)
def test_bad_tokens_refused_without_repeating_them(token):
    with pytest.raises(ValidationError) as refused:
        validate_slack_bot_token(token)
    assert token not in " ".join(refused.value.messages)


def test_good_token_and_empty_accepted():
    validate_slack_bot_token("")
    validate_slack_bot_token("xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ops=#general", "not a Slack channel ID"),
        ("ops=c0123abcd", "not a Slack channel ID"),
        ("ops", "name=CHANNEL_ID"),
        ("o.ps=C0123ABCD", "letters, digits"),
        ("ops=C0123ABCD ops=C0456EFGH", "given twice"),
    ],
)
def test_bad_app_channels_refused(text, fragment):
    with pytest.raises(ValidationError, match=fragment):
        parse_app_channels(text)


def test_app_channel_names_may_not_clash_with_slack_webhooks():
    with pytest.raises(ValidationError, match="slack:ops"):
        parse_app_channels("ops=C0123ABCD", ["default", "ops"])
    with pytest.raises(ValidationError, match="'Slack webhook URL'"):
        parse_app_channels("default=C0123ABCD", ["default"])
    with pytest.raises(ValidationError, match="slack:ops"):
        app_names_clash(["ops"], ["ops"])
    assert [d.key for d in parse_app_channels("Ops=C0123ABCD default=G0123ABCD")] == [
        "slack:ops",
        "slack:default",
    ]


def test_a_clash_saved_earlier_keeps_the_webhook_and_says_so():
    config = from_settings(
        settings(SLACK_EXTRA_WEBHOOKS="ops=https://hooks.slack.com/services/T/B/X")
    )
    assert [(d.key, d.app) for d in config.destinations] == [("slack:ops", False)]
    assert any("slack:ops is a Slack webhook" in p for p in config.problems)


def test_app_destinations_are_routed_and_mention_slack_members():
    from inventree_notify_plus.routing.config import Recipient

    config = from_settings(
        settings(
            SLACK_APP_CHANNELS=f"default={CHANNEL}",
            EMAIL_ENABLE=False,
        )
    )
    [planned] = plan(low_stock(), [Recipient(1, slack_member_id="U0123ABCD")], config, _now())
    assert (planned.channel, planned.destination) == ("slack_app", "slack:default")
    assert planned.mentions == ("U0123ABCD",)
    assert planned.label == f"slack app 'default' (#{CHANNEL})"


def test_without_a_token_app_deliveries_are_skipped_with_the_reason():
    config = from_settings(settings(SLACK_BOT_TOKEN=""))
    assert any("'Slack bot token' is empty" in p for p in config.problems)
    skipped = SettingsDirectory(config).resolve("slack:ops")
    assert isinstance(skipped, Skip) and "Slack bot token" in skipped.reason


def test_the_token_is_in_no_label_log_or_api_answer(api, app, caplog):
    caplog.set_level(logging.DEBUG)
    config = from_settings(settings(SLACK_BOT_TOKEN=api.token))
    resolved = SettingsDirectory(config).resolve("slack:ops")
    assert resolved.credential == api.token
    shown = [
        resolved.label,
        repr(resolved),
        repr(config),
        str(masked_destinations(config)),
        str(config.problems),
    ]
    for result in (
        app.send(resolved, [low_stock()]),
        app.send(replace(resolved, credential="xoxb-1111111111-wrong-token"), [low_stock()]),
        app.send(replace(resolved, address="C0OUTSIDE1"), [low_stock()]),
    ):
        shown.append(result.detail)
    shown.append(caplog.text)
    assert not [s for s in shown if "standin-token" in s or "wrong-token" in s]


def _now():
    from django.utils import timezone

    return timezone.now()
