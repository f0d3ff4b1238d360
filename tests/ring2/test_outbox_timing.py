"""Ring 2: the worker's dispatcher inside InvenTree: settings as stored, the database's clock,
email at the default frequency ready to be grouped (issue 15, points 1, 2, 4 and 7)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from django.contrib.auth.models import Group, User
from django.core import mail
from django.utils import timezone
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartStar
from plugin import registry

from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.outbox.clock import DatabaseClock, database_now


class WorkerDispatcher(InvenTreeTestCase):
    """What ``worker_dispatcher.build_dispatcher`` builds from the plugin's settings."""

    roles = ["part.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)

    def test_retry_settings_are_used_as_stored(self):
        self.plugin.set_setting("RETRY_MAX_ATTEMPTS", 3)
        self.plugin.set_setting("RETRY_MAX_HOURS", 2)
        self.plugin.set_setting("GROUP_INTERVAL", 0)
        dispatcher = build_dispatcher(self.plugin)
        self.assertEqual(dispatcher.policy.max_attempts, 3)
        self.assertEqual(dispatcher.policy.max_age, timedelta(hours=2))
        self.assertEqual(dispatcher.group_interval, timedelta(0))

    def test_the_defaults_group_for_a_minute(self):
        for key in ("RETRY_MAX_ATTEMPTS", "RETRY_MAX_HOURS", "GROUP_INTERVAL"):
            self.plugin.set_setting(key, self.plugin.SETTINGS[key]["default"])
        dispatcher = build_dispatcher(self.plugin)
        self.assertEqual(dispatcher.group_interval, timedelta(seconds=60))
        self.assertEqual(dispatcher.policy.max_attempts, 10)

    def test_claims_are_timed_on_the_database_clock_not_this_servers(self):
        """An app server whose clock is 10 minutes ahead still measures leases on PostgreSQL's."""
        dispatcher = build_dispatcher(self.plugin)
        self.assertIsInstance(dispatcher.clock, DatabaseClock)
        real = timezone.now
        with mock.patch("django.utils.timezone.now", lambda: real() + timedelta(minutes=10)):
            theirs = dispatcher.clock()
            database = database_now()
        self.assertLess(abs((theirs - database).total_seconds()), 2.0)
        self.assertLess(abs((theirs - real()).total_seconds()), 2.0)  # the lab's DB is local


class LowPartWithSubscriber(InvenTreeTestCase):
    """A part (``part_name``) below its minimum, starred by alice, who may view parts."""

    roles = ["part.view"]
    part_name = "M4 nut"

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.part = Part.objects.create(
            name=cls.part_name, category=PartCategory.objects.create(name="Nuts"), minimum_stock=5
        )
        cls.alice = User.objects.create_user("alice", "alice@example.com", "x")
        cls.alice.groups.add(Group.objects.get(name=cls.group.name))
        PartStar.objects.create(part=cls.part, user=cls.alice)

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("NOTIFICATIONS_LOW_STOCK", True)


class EmailAtTheDefaultFrequency(LowPartWithSubscriber):
    """A low-stock notice's email at 'immediately' is queued due now and groupable."""

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("GROUP_INTERVAL", 60)

    def low(self, part: Part) -> None:
        context = {"part": part, "link": "x", "template": {"html": "x", "subject": "x"}}
        self.plugin.send_notification(part, "part.notify_low_stock", [self.alice], context)

    def test_the_email_row_may_join_a_digest(self):
        before = timezone.now()
        self.low(self.part)
        row = Delivery.objects.get(channel="email", destination=f"email:user:{self.alice.pk}")
        self.assertTrue(row.groupable)
        self.assertLessEqual(row.due_at, timezone.now())
        self.assertGreaterEqual(row.due_at, before - timedelta(seconds=1))

    def test_the_first_email_goes_at_once_the_next_ones_together_after_the_interval(self):
        """Through InvenTree's mail backend: 1 email, then nothing for a minute, then 1 digest."""
        others = [
            Part.objects.create(name=f"M{n} nut", category=self.part.category, minimum_stock=5)
            for n in (5, 6)
        ]
        self.low(self.part)
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)
        self.assertEqual([m.subject for m in mail.outbox], ["[InvenTree] Low stock: M4 nut"])
        for part in others:
            self.low(part)
        report = build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)
        self.assertEqual(len(mail.outbox), 1)  # held: alice was emailed within the minute
        self.assertGreater(report.next_due, database_now() + timedelta(seconds=55))
        later = build_dispatcher(self.plugin)
        later.clock = lambda: database_now() + timedelta(seconds=61)
        later.drain(budget_seconds=5, wait=False)
        self.assertEqual(len(mail.outbox), 2)
        digest = mail.outbox[1]
        self.assertEqual(digest.to, ["alice@example.com"])
        self.assertIn("2 notifications", digest.subject)
        for name in ("M5 nut", "M6 nut"):
            self.assertIn(f"Low stock: {name}", digest.body)
