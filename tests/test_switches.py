"""The switches, the final email and the bounded low-stock episode: the rules without InvenTree."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from inventree_notify_plus.inventree import episodes
from inventree_notify_plus.inventree.consent import switched_off
from inventree_notify_plus.notice_categories import BUILD_SHORTFALL, LOW_STOCK, RECOVERED
from inventree_notify_plus.outbox.destinations import SettingsDirectory
from inventree_notify_plus.routing.config import RoutingConfig

ON = {"NOTIFICATIONS_ENABLE": True, "NOTIFICATIONS_LOW_STOCK": True}


@pytest.mark.parametrize(
    ("switches", "category", "off"),
    [
        (ON, LOW_STOCK, False),
        (ON, BUILD_SHORTFALL, False),
        ({**ON, "NOTIFICATIONS_ENABLE": False}, LOW_STOCK, True),
        ({**ON, "NOTIFICATIONS_ENABLE": False}, BUILD_SHORTFALL, True),
        ({**ON, "NOTIFICATIONS_ENABLE": False}, "order.overdue", True),
        ({**ON, "NOTIFICATIONS_LOW_STOCK": False}, LOW_STOCK, True),
        ({**ON, "NOTIFICATIONS_LOW_STOCK": False}, RECOVERED, True),  # its end is low-stock news
        ({**ON, "NOTIFICATIONS_LOW_STOCK": False}, BUILD_SHORTFALL, False),
    ],
)
def test_switches_stop_what_their_names_say(switches, category, off):
    assert switched_off(category, switches) is off


@pytest.mark.django_db
def test_a_queued_email_is_still_delivered_after_email_was_switched_off():
    user = get_user_model().objects.create_user("ann", "ann@example.com", "x")
    directory = SettingsDirectory(RoutingConfig(email_enabled=False))
    key = f"email:user:{user.pk}"
    assert directory.resolve(key).address == "ann@example.com"
    assert directory.resolve_many([key])[key].address == "ann@example.com"


@pytest.mark.django_db
def test_an_episode_without_a_visible_end_is_bounded():
    start = timezone.now()
    bound = timedelta(hours=23)
    first, new = episodes.begin("low_stock:part:7", now=start, max_age=bound)
    assert new
    # InvenTree's repeats within the bound stay silent, as with a visible end
    assert episodes.begin("low_stock:part:7", now=start + timedelta(hours=5), max_age=bound) == (
        first,
        False,
    )
    # InvenTree's next daily notice starts a new episode: announced again
    later = start + timedelta(hours=24)
    episode, new = episodes.begin("low_stock:part:7", now=later, max_age=bound)
    assert new and episode == later.isoformat()
    # with a visible end (max_age None) it lasts until it is ended
    assert not episodes.begin("low_stock:part:7", now=later + timedelta(days=30))[1]


def test_the_outbox_models_import_where_the_app_is_not_installed():
    """A worker started after deactivation: InvenTree no longer lists the app."""
    code = textwrap.dedent(
        """
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
                           DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                                                  "NAME": ":memory:"}})
        django.setup()
        from inventree_notify_plus.models import Delivery
        print(Delivery._meta.db_table)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "inventree_notify_plus_delivery"
