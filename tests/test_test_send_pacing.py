"""A test send takes its token from the destination's bucket, as the dispatcher's sends do.

``outbox.pacing.take_token`` is what the admin's "Send test" goes through: a test cannot push a Slack
or Discord webhook over its limit, and the admin is told how long to wait.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from inventree_notify_plus.channels import DiscordChannel, EmailChannel, SlackChannel
from inventree_notify_plus.models import DestinationState
from inventree_notify_plus.outbox.pacing import take_token

pytestmark = pytest.mark.django_db


def test_slack_second_test_in_a_row_must_wait_then_may_send():
    slack = SlackChannel()  # Slack's own limit: one at once, then about one a second
    now = timezone.now()
    assert take_token("slack:default", slack, now) == 0.0
    wait = take_token("slack:default", slack, now)
    assert 1.0 <= wait <= 1.2
    later = now + timedelta(seconds=math.ceil(wait))  # the API answers whole seconds
    assert take_token("slack:default", slack, later) == 0.0


def test_discord_burst_then_wait():
    discord = DiscordChannel()
    now = timezone.now()
    burst = discord.rate_limit.burst
    assert [take_token("discord:ops", discord, now) for _ in range(burst)] == [0.0] * burst
    assert take_token("discord:ops", discord, now) > 0


def test_a_retry_after_block_holds_test_sends_too():
    now = timezone.now()
    DestinationState.objects.create(
        destination="slack:ops",
        tokens=1,
        refilled_at=now,
        blocked_until=now + timedelta(seconds=30),
    )
    assert take_token("slack:ops", SlackChannel(), now) == pytest.approx(30.0)


def test_test_sends_leave_the_grouping_window_alone():
    now = timezone.now()
    take_token("slack:default", SlackChannel(), now)
    assert DestinationState.objects.get(destination="slack:default").last_sent_at is None


def test_email_has_no_bucket():
    assert take_token("email:user:1", EmailChannel()) == 0.0
    assert not DestinationState.objects.filter(destination="email:user:1").exists()
