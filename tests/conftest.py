"""Shared fixtures: loopback stand-ins, a directory of destinations, fast channels."""

from __future__ import annotations

import pytest

from inventree_notify_plus.channels import DiscordChannel, EmailChannel, RenderContext, SlackChannel
from inventree_notify_plus.channels.base import Destination, RateLimit
from inventree_notify_plus.devtools.samples import HOSTILE, build_shortfall_notice, low_stock_notice
from inventree_notify_plus.devtools.standalone import StaticDirectory
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn
from inventree_notify_plus.notice import Notice

from .support.loopback_only import install

install()  # every ring run with pytest: loopback only

EVIL = HOSTILE

# Ring 2 runs inside InvenTree's own test runner (see README), not in ring 1's pytest; rings 3 and 4
# need a live InvenTree and run on their own (`pytest tests/e2e`, `pytest tests/browser`).
collect_ignore = ["ring2", "e2e", "browser"]


@pytest.fixture(autouse=True)
def real_smtp_backend(settings):
    """pytest-django swaps in the locmem mail backend; these tests talk to a real SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def slack():
    with WebhookStandIn("slack") as server:
        yield server


@pytest.fixture
def discord():
    with WebhookStandIn("discord") as server:
        yield server


@pytest.fixture
def smtp(settings):
    with SmtpStandIn() as server:
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        yield server


def low_stock(name: str = "M3 screw", n: int = 1) -> Notice:
    """A low-stock notice like the plugin builds from InvenTree."""
    return low_stock_notice(name, n)


def shortfall() -> Notice:
    """A build order short of two parts, one of them with a hostile name."""
    return build_shortfall_notice("BO-0001", short_title=EVIL)


def directory(*destinations: Destination) -> StaticDirectory:
    """Destinations by key, as the plugin's directory would resolve them."""
    found = StaticDirectory()
    for destination in destinations:
        found.add(destination)
    return found


def fast(channel):
    """Lift the real rate limit for tests that are not about it."""
    channel.rate_limit = RateLimit(burst=1000, per_second=1000.0)
    return channel


@pytest.fixture
def channels():
    ctx = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
    return {
        "slack": fast(SlackChannel(ctx, timeout=2)),
        "discord": fast(DiscordChannel(ctx, timeout=2)),
        "email": EmailChannel(ctx, timeout=2),
    }
