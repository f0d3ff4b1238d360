"""Routing: which destinations and people receive a notice, and when (frozen clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from inventree_notify_plus.routing.config import (
    Recipient,
    RoutingConfig,
    WebhookDestination,
    parse_destinations,
    parse_routes,
)
from inventree_notify_plus.routing.plan import email_due_at, plan, webhook_targets

from .conftest import low_stock

DESTS = [
    WebhookDestination("slack", "default", "https://hooks.slack.com/services/d"),
    WebhookDestination("discord", "default", "https://discord.com/api/webhooks/1/d"),
    *parse_destinations(
        "slack",
        "purchasing=https://hooks.slack.com/services/p lab=https://hooks.slack.com/services/l",
    ),
    *parse_destinations("discord", "production=https://discord.com/api/webhooks/2/p"),
]
KNOWN = {d.key for d in DESTS}
ROUTES = parse_routes(
    """[
      {"category": "part.notify_low_stock", "part_category": [10], "to": ["slack:purchasing"], "continue": true},
      {"part_category": [20], "to": ["slack:lab", "discord:production"]},
      {"category": "build.stock_required", "to": ["discord:production"]},
      {"location": [7], "to": ["slack:lab"]}
    ]""",
    KNOWN,
)
CONFIG = RoutingConfig(destinations=DESTS, routes=ROUTES)
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def keys(notice, config=CONFIG):
    return [d.key for d in webhook_targets(notice, config)]


def in_categories(*ids, category="part.notify_low_stock", locations=()):
    return replace(
        low_stock(),
        category=category,
        scope={"part_category_path": list(ids), "location_path": list(locations)},
    )


def test_first_match_wins_unless_continue():
    # route 1 matches and continues; route 2 matches too (subcategory 20 under 10) and stops
    assert keys(in_categories(10, 20)) == ["slack:purchasing", "slack:lab", "discord:production"]


def test_subcategories_match_through_their_path():
    assert keys(in_categories(20, 21)) == ["slack:lab", "discord:production"]


def test_category_of_notification_matters():
    assert keys(in_categories(10, category="build.stock_required")) == ["discord:production"]


def test_location_route():
    assert keys(in_categories(99, locations=(3, 7))) == ["slack:lab"]


def test_unmatched_goes_to_default_destinations():
    assert keys(in_categories(99)) == ["slack:default", "discord:default"]


def test_no_routes_means_defaults_and_missing_url_is_dropped():
    config = RoutingConfig(destinations=[WebhookDestination("slack", "default", "")])
    assert keys(in_categories(1), config) == []


def test_plan_emails_each_person_and_mentions_opted_in():
    people = [
        Recipient(1, "Alice", "alice@example.com", slack_member_id="U0ALICE01"),
        Recipient(
            2, "Bob", "bob@example.com", wants_email=False, discord_user_id="123456789012345678"
        ),
        Recipient(3, "Carol", "carol@example.com"),
    ]
    planned = plan(in_categories(99), people, CONFIG, NOON)
    by_dest = {p.destination: p for p in planned}
    assert set(by_dest) == {"slack:default", "discord:default", "email:user:1", "email:user:3"}
    assert by_dest["slack:default"].mentions == ("U0ALICE01",)
    assert by_dest["discord:default"].mentions == (
        "123456789012345678",
    )  # Bob: no email, still mentioned
    assert "alice@example.com" not in by_dest["email:user:1"].label  # masked in the log
    assert all("hooks.slack.com/services/d" not in p.label for p in planned)


def test_category_switch_off():
    config = RoutingConfig(destinations=DESTS, categories_enabled={"part.notify_low_stock": False})
    assert plan(in_categories(1), [Recipient(1, email="a@example.com")], config, NOON) == []


def test_email_digest_times():
    hourly = Recipient(1, email_mode="hourly")
    daily = Recipient(1, email_mode="daily", timezone="Europe/Berlin")
    assert email_due_at(hourly, NOON.replace(minute=20)) == NOON.replace(hour=13)
    # 12:00 UTC is 13:00 in Berlin: next 07:00 Berlin is tomorrow 06:00 UTC
    assert email_due_at(daily, NOON) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_quiet_hours_hold_email_until_they_end():
    night_owl = Recipient(1, timezone="America/New_York", quiet_start=22, quiet_end=7)
    late = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # 23:30 in New York
    assert email_due_at(night_owl, late) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 07:00 NY
    assert email_due_at(night_owl, NOON) == NOON  # 07:00 NY: quiet hours over
    day_sleeper = Recipient(1, quiet_start=9, quiet_end=17)
    assert email_due_at(day_sleeper, NOON) == NOON.replace(hour=17)


def test_quiet_hours_do_not_hold_channel_posts():
    person = Recipient(1, email="a@example.com", quiet_start=0, quiet_end=23)
    planned = {p.destination: p for p in plan(in_categories(99), [person], CONFIG, NOON)}
    assert planned["slack:default"].due_at == NOON
    assert planned["email:user:1"].due_at == NOON.replace(hour=23)


def test_email_is_groupable_at_every_frequency_and_due_now_by_default():
    """'Immediately' is due now and may go in one digest with what follows within the grouping
    interval (the outbox decides that); hourly and daily are due at their digest time."""
    people = [
        Recipient(1, email="a@example.com"),
        Recipient(2, email="b@example.com", email_mode="hourly"),
        Recipient(3, email="c@example.com", email_mode="daily"),
    ]
    planned = {p.destination: p for p in plan(in_categories(99), people, CONFIG, NOON)}
    assert planned["email:user:1"].due_at == NOON
    assert planned["email:user:2"].due_at == NOON.replace(hour=13)
    assert planned["email:user:3"].due_at == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert all(p.groupable for p in planned.values())
