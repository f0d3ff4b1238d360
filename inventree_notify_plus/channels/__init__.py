"""Channels: each renders one destination's message from notices and sends it.

A channel answers with a :class:`~.base.SendResult`: sent, retry (when, and why) or permanent
failure. Policy (retries, grouping, rate limits) lives in the outbox, not here.
"""

from .apprise_channel import AppriseChannel
from .base import Channel, Destination, Outcome, RenderContext, SendResult
from .discord import DiscordChannel
from .email import EmailChannel
from .slack import SlackChannel
from .slack_app import SlackAppChannel
from .webhook import WebhookChannel

CHANNELS: dict[str, type[Channel]] = {
    "email": EmailChannel,
    "slack": SlackChannel,
    "discord": DiscordChannel,
    "slack_app": SlackAppChannel,
    "webhook": WebhookChannel,
    "apprise": AppriseChannel,
}

__all__ = [
    "CHANNELS",
    "AppriseChannel",
    "Channel",
    "Destination",
    "DiscordChannel",
    "EmailChannel",
    "Outcome",
    "RenderContext",
    "SendResult",
    "SlackAppChannel",
    "SlackChannel",
    "WebhookChannel",
]
