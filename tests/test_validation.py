"""Settings validation: what is accepted, and errors that say what is wrong."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from inventree_notify_plus import notice_categories as categories
from inventree_notify_plus import validation
from inventree_notify_plus.inventree import notices
from inventree_notify_plus.routing.config import (
    parse_destinations,
    parse_destinations_lenient,
    parse_routes,
    unknown_category_problems,
)
from inventree_notify_plus.routing.quiet_hours import parse_quiet_hours, validate_timezone


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
    dests = parse_destinations(
        "slack",
        "purchasing=https://hooks.slack.com/services/a lab=https://hooks.slack.com/services/b",
    )
    assert [d.key for d in dests] == ["slack:purchasing", "slack:lab"]
    with pytest.raises(ValidationError, match="name=URL"):
        parse_destinations("slack", "https://hooks.slack.com/services/a")
    known = {"slack:purchasing", "slack:default"}
    with pytest.raises(ValidationError, match="unknown destination 'slack:nowhere'"):
        parse_routes('[{"category": "part.notify_low_stock", "to": ["slack:nowhere"]}]', known)
    with pytest.raises(ValidationError, match="matches nothing"):
        parse_routes('[{"to": ["slack:purchasing"]}]', known)
    with pytest.raises(ValidationError, match="JSON"):
        parse_routes("[{oops", known)
    with pytest.raises(ValidationError, match="unknown key"):
        parse_routes('[{"categroy": "x", "to": ["slack:purchasing"]}]', known)


def test_quiet_hours_and_timezone():
    assert parse_quiet_hours("22-07") == (22, 7)
    assert parse_quiet_hours("") is None
    for bad in ("22", "25-3", "8-8", "night"):
        with pytest.raises(ValidationError, match="22-07"):
            parse_quiet_hours(bad)
    validate_timezone("Europe/Berlin")
    with pytest.raises(ValidationError, match="Unknown time zone"):
        validate_timezone("Mars/Olympus")


# -- refused on save, with the accepted values in the message (issue 15, point 6) -------------


@pytest.mark.parametrize(
    ("validator", "refused", "accepted", "says"),
    [
        (
            validation.RETRY_ATTEMPTS_RANGE,
            ["0", "-1", "101", "ten"],
            ["1", "10", "100"],
            "1 to 100",
        ),
        (validation.RETRY_HOURS_RANGE, ["0", "169"], ["1", "24", "168"], "1 to 168"),
        (
            validation.GROUP_INTERVAL_RANGE,
            ["-5", "3601"],
            ["0", "60", "3600"],
            "0 to 3600; 0 means no grouping",
        ),
        (
            validation.DELETE_DAYS_RANGE,
            ["-1", "3651"],
            ["0", "30", "3650"],
            "0 to 3650; 0 means keep everything",
        ),
    ],
)
def test_integer_settings_refuse_values_outside_their_range(validator, refused, accepted, says):
    for value in accepted:
        validator(value)
    for value in refused:
        with pytest.raises(ValidationError) as err:
            validator(value)
        assert says in str(err.value)
        assert f"(got '{value}')" in str(err.value)


def test_every_integer_setting_states_its_range_in_its_description():
    """What the validator enforces is what the settings page says (no InvenTree needed)."""
    text = {
        validation.GROUP_INTERVAL_RANGE: "0 to 3600 (0 means no grouping)",
        validation.DELETE_DAYS_RANGE: "0 to 3650 (0 means keep everything)",
        validation.RETRY_ATTEMPTS_RANGE: "1 to 100",
        validation.RETRY_HOURS_RANGE: "1 to 168",
    }
    for limits, expected in text.items():
        assert limits.text == expected


def test_extra_webhooks_refuse_a_name_given_twice_naming_the_names():
    with pytest.raises(ValidationError) as err:
        parse_destinations(
            "slack",
            "ops=https://hooks.slack.com/services/a lab=https://hooks.slack.com/services/b "
            "OPS=https://hooks.slack.com/services/c",
        )
    assert err.value.code == "duplicate_name"
    assert "'ops' is given twice" in str(err.value)
    assert "names so far: ops, lab" in str(err.value)
    assert "services/c" not in str(err.value)


@pytest.mark.parametrize("kind", ["slack", "discord"])
def test_extra_webhooks_refuse_the_name_default(kind):
    with pytest.raises(ValidationError) as err:
        parse_destinations(kind, "default=https://example.org/x")
    assert err.value.code == "reserved_name"
    assert f"'{kind.capitalize()} webhook URL'" in str(err.value)
    assert "letters, digits, - and _" in str(err.value)


def test_stored_duplicates_keep_the_first_and_are_reported():
    """A value saved before the validator refused it: sending keeps working, the admin is told."""
    dests, problems = parse_destinations_lenient(
        "discord",
        "ops=https://discord.com/api/webhooks/1/a default=https://discord.com/api/webhooks/2/b "
        "ops=https://discord.com/api/webhooks/3/c nonsense",
    )
    assert [(d.key, d.url[-1]) for d in dests] == [("discord:ops", "a")]
    assert len(problems) == 3
    assert any("'ops' given twice" in p for p in problems)
    assert any("'default'" in p for p in problems)
    assert any("name=URL" in p for p in problems)


ROUTE_TO = '"to": ["slack:default"]'


def test_routes_refuse_an_unknown_category_listing_the_known_ones():
    with pytest.raises(ValidationError) as err:
        parse_routes(
            '[{"category": ["part.notify_low_stok"], ' + ROUTE_TO + "}]",
            ["slack:default"],
            categories.accepted(),
        )
    text = str(err.value)
    assert err.value.code == "unknown_category"
    assert "Route 1: unknown notification category 'part.notify_low_stok'" in text
    assert "did you mean 'part.notify_low_stock'?" in text
    for known in categories.CATEGORIES:
        assert known in text


def test_routes_refuse_a_category_only_the_bell_gets():
    with pytest.raises(ValidationError) as err:
        parse_routes(
            '[{"category": "update_available", ' + ROUTE_TO + "}]",
            ["slack:default"],
            categories.accepted(),
        )
    assert err.value.code == "bell_only_category"
    assert "part.notify_low_stock" in str(err.value)


def test_routes_accept_every_known_category_and_ones_inventree_has_sent():
    accepted = categories.accepted(["myplugin.calibration_due", "update_available"])
    assert "update_available" not in accepted
    for category in [*categories.CATEGORIES, "myplugin.calibration_due"]:
        parse_routes(
            json.dumps([{"category": category, "to": "slack:default"}]),
            ["slack:default"],
            accepted,
        )


def test_the_category_list_holds_the_ones_notify_plus_builds_notices_for():
    for category in (
        notices.LOW_STOCK,
        notices.BUILD_SHORTFALL,
        notices.RECOVERED,
    ):
        assert category in categories.CATEGORIES
    assert not set(categories.CATEGORIES) & set(categories.UI_ONLY)


def test_stored_route_with_an_unknown_category_is_reported():
    routes = parse_routes('[{"category": ["part.notify_low_stok"], ' + ROUTE_TO + "}]")
    problems = unknown_category_problems(routes, categories.accepted())
    assert problems == [
        "route 1 names the notification category 'part.notify_low_stok', which InvenTree does "
        "not send: that part of the route never matches (did you mean 'part.notify_low_stock'?)"
    ]
