"""Each channel against its loopback stand-in: what arrived, and how failures are classified."""

from __future__ import annotations

import pytest

from inventree_notify_plus.channels import Outcome
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.standins import Answer, free_port

from .conftest import EVIL, low_stock


def dest(kind, url):
    return Destination(kind, f"{kind}:default", url, kind)


def test_slack_message_arrives(slack, channels):
    result = channels["slack"].send(dest("slack", slack.url), [low_stock(EVIL)], ["U0123ABCD"])
    assert result.outcome == Outcome.SENT
    assert len(slack.accepted) == 1
    body = slack.accepted[0]
    assert body["blocks"][0]["text"]["text"] == f"Low stock: {EVIL}"
    assert "<!channel>" not in body["text"] and "<@U0123ABCD>" in body["text"]


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after"),
    [
        (Answer(429, "rate_limited", {"Retry-After": "7"}), Outcome.RETRY, 7.0),
        (Answer(500, "internal_error"), Outcome.RETRY, None),
        (Answer(503), Outcome.RETRY, None),
        (Answer(403, "invalid_token"), Outcome.PERMANENT, None),
        (Answer(404, "no_service"), Outcome.PERMANENT, None),
        (Answer(404, "channel_not_found"), Outcome.PERMANENT, None),
    ],
)
def test_slack_answers_classified(slack, channels, answer, outcome, retry_after):
    slack.then(answer)
    result = channels["slack"].send(dest("slack", slack.url), [low_stock()])
    assert result.outcome == outcome
    assert result.retry_after == retry_after
    assert slack.accepted == []


def test_discord_message_arrives_without_pings(discord, channels):
    result = channels["discord"].send(dest("discord", discord.url), [low_stock(EVIL)])
    assert result.outcome == Outcome.SENT
    body = discord.accepted[0]
    assert body["allowed_mentions"] == {"parse": [], "users": []}
    assert "@everyone" not in body["embeds"][0]["title"]


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after"),
    [
        (
            Answer(429, {"message": "rate limited", "retry_after": 1.5, "global": False}),
            Outcome.RETRY,
            1.5,
        ),
        (Answer(502, "bad gateway"), Outcome.RETRY, None),
        (Answer(401, {"message": "Invalid Webhook Token", "code": 50027}), Outcome.PERMANENT, None),
        (Answer(404, {"message": "Unknown Webhook", "code": 10015}), Outcome.PERMANENT, None),
    ],
)
def test_discord_answers_classified(discord, channels, answer, outcome, retry_after):
    discord.then(answer)
    result = channels["discord"].send(dest("discord", discord.url), [low_stock()])
    assert result.outcome == outcome
    assert result.retry_after == retry_after


def test_connection_refused_is_transient_and_hides_the_secret(channels):
    url = f"http://127.0.0.1:{free_port()}/api/webhooks/1234567890/SeCrEtToKeN"
    for kind in ("slack", "discord"):
        result = channels[kind].send(
            dest(kind, url.replace("/api/webhooks", "/services") if kind == "slack" else url),
            [low_stock()],
        )
        assert result.outcome == Outcome.RETRY
        assert "SeCrEtToKeN" not in result.detail


def test_timeout_is_transient(discord, channels):
    discord.then(Answer(action="timeout", delay=3.0, status=500))
    result = channels["discord"].send(dest("discord", discord.url), [low_stock()])
    assert result.outcome == Outcome.RETRY
    assert "SeCrEtToKeN" not in result.detail


def test_email_one_message_per_recipient(smtp, channels):
    for address in ("alice@example.com", "bob@example.com"):
        d = Destination("email", f"email:{address}", address, address, recipient_name=address[:3])
        assert channels["email"].send(d, [low_stock()]).outcome == Outcome.SENT
    assert len(smtp.messages) == 2
    for rcpts, message in smtp.messages:
        assert len(rcpts) == 1 and message["To"] == rcpts[0]
        assert message["Subject"] == "[Workshop] Low stock: M3 screw"
        types = [part.get_content_type() for part in message.walk()]
        assert "text/plain" in types and "text/html" in types


def test_email_smtp_codes(smtp, channels):
    smtp.refuse("temp@example.com", "451 4.3.0 Try again later")
    smtp.refuse("gone@example.com", "550 5.1.1 No such user")
    temp = channels["email"].send(
        Destination("email", "e1", "temp@example.com", "t"), [low_stock()]
    )
    gone = channels["email"].send(
        Destination("email", "e2", "gone@example.com", "g"), [low_stock()]
    )
    assert temp.outcome == Outcome.RETRY and temp.status == 451
    assert gone.outcome == Outcome.PERMANENT and gone.status == 550
    assert "g***@example.com" in gone.detail and smtp.messages == []


def test_email_server_down_is_transient(settings, channels):
    settings.EMAIL_PORT = free_port()
    result = channels["email"].send(Destination("email", "e", "a@example.com", "a"), [low_stock()])
    assert result.outcome == Outcome.RETRY
