"""Ring 1: REMIND_AFTER's parsing, the reminder decision and text, and on-order coverage (issue 19)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from inventree_notify_plus.inventree.on_order import Coverage
from inventree_notify_plus.inventree.reminders import (
    age_text,
    parse_interval,
    reminder_due,
    reminder_notice,
    split_threaded,
)
from inventree_notify_plus.routing.plan import PlannedDelivery
from inventree_notify_plus.settings import SETTINGS

from .conftest import low_stock

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 7D ", timedelta(days=7)),
        ("1d 6h", timedelta(days=1, hours=6)),
    ],
)
def test_intervals_with_units_are_read(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", None, "0", "off", "0d", "  "])
def test_empty_or_zero_turns_reminders_off(text):
    assert parse_interval(text) is None


@pytest.mark.parametrize("text", ["7", "7 days", "d7", "7x", "-1d", "1.5d", "weekly"])
def test_anything_else_is_refused_saying_what_is_accepted(text):
    with pytest.raises(ValidationError) as err:
        parse_interval(text)
    message = " ".join(err.value.messages)
    assert "7d (days)" in message
    assert "0 turns reminders off" in message


@pytest.mark.parametrize("text", ["366d", "60w"])
def test_more_than_a_year_is_refused(text):
    with pytest.raises(ValidationError, match="at most 365 days"):
        parse_interval(text)


def test_the_setting_is_off_by_default_and_validated_on_save():
    spec = SETTINGS["REMIND_AFTER"]
    assert spec["default"] == ""
    spec["validator"]("7d")
    with pytest.raises(ValidationError):
        spec["validator"]("7")
    assert SETTINGS["LOW_STOCK_COUNT_ON_ORDER"]["default"] is False


def test_an_episode_younger_than_the_interval_is_not_reminded():
    assert not reminder_due(T0, None, T0 + WEEK - timedelta(seconds=1), WEEK)


def test_an_episode_as_old_as_the_interval_is_reminded_once():
    now = T0 + WEEK
    assert reminder_due(T0, None, now, WEEK)
    # The next sweep a minute later: reminded at `now`, not again.
    assert not reminder_due(T0, now, now + timedelta(minutes=1), WEEK)


def test_after_another_interval_one_more_reminder():
    first = T0 + WEEK + timedelta(seconds=30)
    assert not reminder_due(T0, first, first + WEEK - timedelta(seconds=1), WEEK)
    assert reminder_due(T0, first, first + WEEK, WEEK)


def test_shortening_the_interval_reminds_once_not_a_burst():
    """Three weeks low, reminded once after a week; the admin sets 1d: one reminder now."""
    last = T0 + WEEK
    now = T0 + 3 * WEEK
    day = timedelta(days=1)
    assert reminder_due(T0, last, now, day)
    assert not reminder_due(T0, now, now + timedelta(hours=23), day)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=9, hours=5), "9 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=5, minutes=59), "5 hours"),
        (timedelta(minutes=1, seconds=30), "1 minute"),
        (timedelta(seconds=20), "less than a minute"),
    ],
)
def test_age_is_said_in_its_largest_unit(delta, text):
    assert age_text(T0, T0 + delta) == text


def test_the_reminder_says_still_low_since_when_and_for_how_long():
    base = low_stock("M3 screw")
    base = replace(base, episode=f"low_stock:part:7@{T0.isoformat()}")
    first = reminder_notice(base, T0, T0 + timedelta(days=9, hours=2), 1)
    assert first.title == "Still low: M3 screw"
    assert first.summary.startswith("Still low since 2026-11-01 08:00 UTC, 9 days. ")
    assert first.state == "reminder"
    assert first.episode == base.episode  # what a reply threads under
    assert first.category == base.category  # routed like the low-stock notice
    assert first.facts == base.facts  # with the current figures
    second = reminder_notice(base, T0, T0 + timedelta(days=16), 2)
    again = reminder_notice(base, T0, T0 + timedelta(days=9, hours=3), 1)
    assert len({base.uid, first.uid, second.uid}) == 3
    assert again.uid == first.uid  # the same reminder twice is enqueued once


def test_only_channels_that_thread_reply_under_the_original():
    planned = [
        PlannedDelivery("email", "email:user:1", "alice"),
        PlannedDelivery("slack", "slack:default", "slack"),
        PlannedDelivery("discord", "discord:default", "discord"),
    ]
    from inventree_notify_plus.channels import CHANNELS

    new, threaded = split_threaded(planned)
    expected = {p.destination for p in planned if getattr(CHANNELS[p.channel], "threads", False)}
    assert {p.destination for p in threaded} == expected
    assert [p.destination for p in new][:2] == ["email:user:1", "slack:default"]  # webhooks, email


def cover(available, on_order, minimum, in_production=0, units="pcs") -> Coverage:
    return Coverage(
        Decimal(available), Decimal(on_order), Decimal(in_production), Decimal(minimum), units
    )


def test_stock_plus_what_is_on_order_reaching_the_minimum_is_covered():
    assert cover(2, 8, 10).covered
    assert cover(2, 20, 10).covered
    assert not cover(2, 7, 10).covered
    assert not cover(2, 0, 10).covered
    assert cover(0, 4, 10, in_production=6).covered  # an assembly being built


def test_the_reason_names_how_much_is_on_order():
    assert cover(2, 8, 10).reason == "covered by open orders: 8 pcs on order"
    assert cover(0, 4, 10, 6, "").reason == "covered by open orders: 4 on order, 6 in production"


def test_a_partly_covered_notice_says_how_much_is_on_order():
    notice = cover(2, Decimal("3.50"), 10).annotate(low_stock("M3 screw"))
    assert notice.facts[-1].label == "On order"
    assert notice.facts[-1].value == "3.5 pcs"
    plain = cover(2, 0, 10).annotate(low_stock("M3 screw"))
    assert [f.label for f in plain.facts] == [f.label for f in low_stock("M3 screw").facts]
