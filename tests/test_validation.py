"""Settings validation: what is accepted, and errors that say what is wrong."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from inventree_notify_plus import routing, validation


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "",
    ],
)
def test_slack_urls_accepted(url):
    validation.validate_slack_webhook_url(url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.slack.com/services/T000/B000/XXXX", "invalid_scheme"),
        ("https://evil.example.com/services/T000/B000/XXXX", "invalid_host"),
        ("https://hooks.slack.com/api/other", "invalid_path"),
        ("https://discord.com/api/webhooks/1/abc", "invalid_host"),
    ],
)
def test_slack_urls_rejected(url, code):
    with pytest.raises(ValidationError) as err:
        validation.validate_slack_webhook_url(url)
    assert err.value.code == code


@pytest.mark.parametrize(
    "url",
    ["https://discord.com/api/webhooks/1/abc", "https://discordapp.com/api/webhooks/1/abc"],
)
def test_discord_urls_accepted(url):
    validation.validate_discord_webhook_url(url)


def test_discord_url_error_names_accepted_hosts():
    with pytest.raises(ValidationError) as err:
        validation.validate_discord_webhook_url("https://discord.gg/api/webhooks/1/abc")
    text = str(err.value)
    assert "discord.com" in text and "INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS" in text


def test_allowed_hosts_admit_http_only_for_them(monkeypatch):
    monkeypatch.setenv(validation.ALLOWED_HOSTS_ENV, "127.0.0.1:9101, chat.example.org")
    validation.validate_slack_webhook_url("http://127.0.0.1:9101/hooks/abc")
    validation.validate_slack_webhook_url("https://chat.example.org/hooks/abc")
    with pytest.raises(ValidationError):
        validation.validate_slack_webhook_url("http://127.0.0.1:9999/hooks/abc")
    with pytest.raises(ValidationError):
        validation.validate_slack_webhook_url("ftp://chat.example.org/hooks/abc")


def test_member_ids():
    validation.validate_slack_member_id("U012AB3CD")
    validation.validate_discord_user_id("123456789012345678")
    with pytest.raises(ValidationError, match="member ID"):
        validation.validate_slack_member_id("alice")
    with pytest.raises(ValidationError, match="17 to 20 digits"):
        validation.validate_discord_user_id("@alice")


def test_non_negative():
    validation.validate_non_negative("0")
    with pytest.raises(ValidationError):
        validation.validate_non_negative(-1)
    with pytest.raises(ValidationError):
        validation.validate_non_negative("soon")


def test_destinations_and_routes_errors():
    dests = routing.parse_destinations(
        "slack",
        "purchasing=https://hooks.slack.com/services/a lab=https://hooks.slack.com/services/b",
    )
    assert [d.key for d in dests] == ["slack:purchasing", "slack:lab"]
    with pytest.raises(ValidationError, match="name=URL"):
        routing.parse_destinations("slack", "https://hooks.slack.com/services/a")
    known = {"slack:purchasing", "slack:default"}
    with pytest.raises(ValidationError, match="unknown destination 'slack:nowhere'"):
        routing.parse_routes(
            '[{"category": "part.notify_low_stock", "to": ["slack:nowhere"]}]', known
        )
    with pytest.raises(ValidationError, match="matches nothing"):
        routing.parse_routes('[{"to": ["slack:purchasing"]}]', known)
    with pytest.raises(ValidationError, match="JSON"):
        routing.parse_routes("[{oops", known)
    with pytest.raises(ValidationError, match="unknown key"):
        routing.parse_routes('[{"categroy": "x", "to": ["slack:purchasing"]}]', known)


def test_quiet_hours_and_timezone():
    assert routing.parse_quiet_hours("22-07") == (22, 7)
    assert routing.parse_quiet_hours("") is None
    for bad in ("22", "25-3", "8-8", "night"):
        with pytest.raises(ValidationError, match="22-07"):
            routing.parse_quiet_hours(bad)
    routing.validate_timezone("Europe/Berlin")
    with pytest.raises(ValidationError, match="Unknown time zone"):
        routing.validate_timezone("Mars/Olympus")
