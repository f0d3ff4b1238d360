"""Ring 2: the switches mean what InvenTree's documentation says, and no email is stranded.

Runs InvenTree's own code (``part.tasks.notify_low_stock``, ``build.tasks.check_build_stock``,
``common.notifications.trigger_notification``, the plugin registry's activation) with
InvenTree's email method as it ships; what was emailed is what reached Django's test mailbox
(``django.core.mail.outbox``), from InvenTree's method or Notify Plus's. Nothing here sends to
Slack or Discord: the webhook rows are only queued.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace
from unittest import mock

from common.models import NotificationEntry, NotificationMessage
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.core import mail
from django.db import connection
from django.utils import timezone
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartCategoryStar, PartStar
from plugin import registry
from plugin.models import PluginUserSetting

from inventree_notify_plus import tasks
from inventree_notify_plus.inventree import episodes, readiness, wakeup
from inventree_notify_plus.models import Condition, Delivery, DestinationState

SLACK = "https://hooks.slack.com/services/T0/B0/secret"
CORE = "inventree-email-notification"
SLUG = "notify-plus"
MARK = "_EMAIL_HANDED_OVER"


def run_offloaded(task: str, *args) -> None:
    """What InvenTree's worker does with an offloaded task: import it by path and run it."""
    module, _, name = task.rpartition(".")
    getattr(import_module(module), name)(*args)


class Switches(InvenTreeTestCase):
    """Common ground: subscribers of a part, the plugin active, mail captured."""

    roles = ["part.view", "part.change", "build.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state(SLUG, True)
        cls.plugin = registry.get_plugin(SLUG, active=None)
        cls.category = PartCategory.objects.create(name="Fasteners")
        viewers = Group.objects.get(name=cls.group.name)
        cls.people = {}
        for name in ("alice", "bob", "erin"):
            user = User.objects.create_user(name, f"{name}@example.com", "x")
            user.groups.add(viewers)
            cls.people[name] = user
        PartCategoryStar.objects.create(category=cls.category, user=cls.people["bob"])

    def setUp(self):
        super().setUp()
        readiness.forget()
        registry.set_plugin_state(SLUG, True)
        self.plugin = registry.get_plugin(SLUG, active=None)
        for key, value in (
            ("SLACK_WEBHOOK_URL", SLACK),
            ("NOTIFICATIONS_ENABLE", True),
            ("NOTIFICATIONS_LOW_STOCK", True),
            ("NOTIFICATIONS_OTHER", True),
            ("EMAIL_ENABLE", True),
        ):
            self.plugin.set_setting(key, value)
        mail.outbox = []

    def low_part(self, name: str) -> Part:
        part = Part.objects.create(name=name, category=self.category, minimum_stock=10)
        for person in ("alice", "erin"):
            PartStar.objects.create(part=part, user=self.people[person])
        return part

    def notify_low(self, part: Part) -> None:
        from part.tasks import notify_low_stock

        notify_low_stock(part)

    def mailed(self, about: str = "") -> list[tuple[str, ...]]:
        """Each email that went out (about ``about``), as its sorted recipient names."""
        return [
            tuple(sorted(a.split("@")[0] for a in m.to))
            for m in mail.outbox
            if about in m.subject or about in m.body or about in str(m.alternatives)
        ]

    def bell(self, category: str) -> set[str]:
        """Who got an entry in InvenTree's bell (inbox) for this category."""
        rows = NotificationMessage.objects.filter(category=category)
        return {User.objects.get(pk=pk).username for pk in rows.values_list("user_id", flat=True)}

    def set_user(self, name: str, key: str, value: str) -> None:
        PluginUserSetting.set_setting(
            key, value, None, user=self.people[name], plugin=self.plugin.plugin_config()
        )


class MasterSwitchStopsEveryNotice(Switches):
    """'Send notifications' off: no email from anyone, nothing queued; the bell still rings."""

    def test_master_off_low_stock_reaches_nobody_by_email_and_the_bell_still_shows_it(self):
        self.plugin.set_setting("NOTIFICATIONS_ENABLE", False)
        self.notify_low(self.low_part("M3 screw"))
        self.assertEqual(mail.outbox, [])  # InvenTree's email method sent nothing either
        self.assertFalse(Delivery.objects.exists())
        self.assertEqual(self.bell("part.notify_low_stock"), {"alice", "bob", "erin"})

    def test_master_off_other_notifications_reach_nobody_by_email(self):
        from common.notifications import trigger_notification

        self.plugin.set_setting("NOTIFICATIONS_ENABLE", False)
        trigger_notification(
            None,
            "update_available",
            targets=[self.people["alice"], self.people["bob"]],
            context={
                "name": "Update available",
                "message": "InvenTree 1.5.1 is out",
                "link": "https://example.com",
                "template": {"html": "email/new_order_assigned.html", "subject": "Update"},
            },
            notification_uid=15001,
        )
        self.assertEqual(mail.outbox, [])
        self.assertFalse(Delivery.objects.exists())
        self.assertEqual(self.bell("update_available"), {"alice", "bob"})

    def test_master_off_a_new_build_order_is_not_checked(self):
        from build.models import Build
        from part.models import BomItem

        from inventree_notify_plus.inventree import events

        screw = Part.objects.create(name="Screw", component=True)
        widget = Part.objects.create(name="Widget", assembly=True)
        BomItem.objects.create(part=widget, sub_part=screw, quantity=4)
        build = Build.objects.create(part=widget, quantity=5, reference="BO-0151", title="x")
        PartStar.objects.create(part=widget, user=self.people["alice"])  # after 'new build'
        self.plugin.set_setting("NOTIFICATIONS_ENABLE", False)
        self.plugin.process_event(events.BUILD_CREATED, id=build.pk, model="Build")
        self.assertEqual(self.bell("build.stock_required"), set())  # InvenTree's check never ran
        self.assertEqual(mail.outbox, [])
        self.assertFalse(Delivery.objects.filter(category="build.stock_required").exists())
        # switched on again, the same event runs InvenTree's check (and Notify Plus takes it)
        self.plugin.set_setting("NOTIFICATIONS_ENABLE", True)
        self.plugin.process_event(events.BUILD_CREATED, id=build.pk, model="Build")
        self.assertEqual(self.bell("build.stock_required"), {"alice"})
        self.assertTrue(Delivery.objects.filter(category="build.stock_required").exists())


class LowStockSwitchStopsLowStockOnly(Switches):
    def test_low_stock_off_stops_every_low_stock_email_and_others_still_go(self):
        from build.models import Build
        from build.tasks import check_build_stock
        from part.models import BomItem

        self.plugin.set_setting("NOTIFICATIONS_LOW_STOCK", False)
        self.notify_low(self.low_part("M4 nut"))
        self.assertEqual(self.mailed("M4 nut"), [])  # InvenTree's email included
        self.assertFalse(Delivery.objects.filter(category="part.notify_low_stock").exists())
        self.assertEqual(self.bell("part.notify_low_stock"), {"alice", "bob", "erin"})

        # a build order short of parts is still announced, by Notify Plus, to each subscriber
        screw = Part.objects.create(name="Screw", component=True)
        widget = Part.objects.create(name="Widget", assembly=True)
        BomItem.objects.create(part=widget, sub_part=screw, quantity=4)
        build = Build.objects.create(part=widget, quantity=5, reference="BO-0152", title="x")
        PartStar.objects.create(part=widget, user=self.people["alice"])  # after 'new build'
        check_build_stock(build)
        self.assertEqual(
            set(
                Delivery.objects.filter(category="build.stock_required").values_list(
                    "destination", flat=True
                )
            ),
            {f"email:user:{self.people['alice'].pk}", "slack:default"},
        )
        tasks.flush_email()
        self.assertEqual(self.mailed("BO-0152"), [("alice",)])


class NoStrandedEmail(Switches):
    """Email Notify Plus took from InvenTree's method always reaches its recipient, once."""

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", "")  # the drains below send what is due

    def queue_hourly_digest(self, name: str) -> Part:
        """Alice, on hourly digests, has a low-stock notice waiting; nothing was mailed yet."""
        self.set_user("alice", "NOTIFY_PLUS_EMAIL_MODE", "hourly")
        part = Part.objects.create(name=name, minimum_stock=10)
        PartStar.objects.create(part=part, user=self.people["alice"])
        self.notify_low(part)
        row = self.alice_rows().get()
        self.assertEqual(row.status, "pending")
        self.assertGreater(row.due_at, timezone.now() + timedelta(minutes=1))  # due later
        self.assertEqual(mail.outbox, [])  # InvenTree's email left it to Notify Plus
        return part

    def alice_rows(self):
        return Delivery.objects.filter(
            channel="email", destination=f"email:user:{self.people['alice'].pk}"
        )

    def test_deactivating_sends_a_pending_digest_at_once_exactly_once(self):
        self.queue_hourly_digest("M5 washer")
        mail.outbox = []
        with (
            mock.patch("inventree_notify_plus.inventree.wakeup.offload", side_effect=run_offloaded),
            self.captureOnCommitCallbacks(execute=True),
        ):
            registry.set_plugin_state(SLUG, False)
        self.assertIsNone(registry.get_plugin(SLUG))  # the worker's registry: not active
        self.assertEqual(self.mailed("M5 washer"), [("alice",)])
        self.assertEqual(set(self.alice_rows().values_list("status", flat=True)), {"sent"})
        # nothing again: another flush, a reactivation and its drain
        tasks.flush_email()
        with mock.patch(
            "inventree_notify_plus.inventree.wakeup.offload", side_effect=run_offloaded
        ):
            registry.set_plugin_state(SLUG, True)
        wakeup.run_drain(budget_seconds=1, wait=False, queued=False)
        self.assertEqual(self.mailed("M5 washer"), [("alice",)])

    def test_switching_email_off_sends_what_is_queued_instead_of_skipping_it(self):
        self.queue_hourly_digest("M6 bolt")
        mail.outbox = []
        with (
            mock.patch("inventree_notify_plus.inventree.wakeup.offload", side_effect=run_offloaded),
            self.captureOnCommitCallbacks(execute=True),
        ):
            self.plugin.set_setting("EMAIL_ENABLE", False)
        self.assertEqual(self.mailed("M6 bolt"), [("alice",)])
        self.assertEqual(set(self.alice_rows().values_list("status", flat=True)), {"sent"})
        # the plugin's own drain does not send it again, nor skip anything
        wakeup.run_drain(budget_seconds=1, wait=False, queued=False)
        self.assertEqual(self.mailed("M6 bolt"), [("alice",)])
        self.assertFalse(Delivery.objects.filter(status="skipped").exists())
        # and from now on InvenTree's email has it
        self.notify_low(self.low_part("M7 bolt"))
        self.assertEqual(self.mailed("M7 bolt"), [("alice", "bob", "erin")])

    def test_switching_the_master_off_sends_what_is_queued_at_once(self):
        self.queue_hourly_digest("M8 bolt")
        mail.outbox = []
        with (
            mock.patch("inventree_notify_plus.inventree.wakeup.offload", side_effect=run_offloaded),
            self.captureOnCommitCallbacks(execute=True),
        ):
            self.plugin.set_setting("NOTIFICATIONS_ENABLE", False)
        self.assertEqual(self.mailed("M8 bolt"), [("alice",)])
        self.assertEqual(set(self.alice_rows().values_list("status", flat=True)), {"sent"})

    def test_a_flush_that_fails_comes_back_while_the_plugin_is_inactive(self):
        from django_q.models import Schedule

        self.queue_hourly_digest("M9 bolt")
        with mock.patch("inventree_notify_plus.inventree.wakeup.offload"):
            registry.set_plugin_state(SLUG, False)
        mail.outbox = []
        with mock.patch(
            "django.core.mail.backends.locmem.EmailBackend.send_messages",
            side_effect=OSError("connection refused"),
        ):
            self.assertEqual(tasks.flush_email(), 0)
        row = self.alice_rows().get()
        self.assertEqual(row.status, "pending")  # to retry, not skipped
        again = Schedule.objects.get(name=wakeup.FLUSH_SCHEDULE)
        self.assertEqual(again.func, wakeup.FLUSH_TASK)
        self.assertLessEqual(again.next_run, row.due_at)
        # the retry's time comes: the row is due and its mailbox's backoff is over
        Delivery.objects.filter(pk=row.pk).update(due_at=timezone.now())
        DestinationState.objects.filter(destination=row.destination).update(blocked_until=None)
        run_offloaded(again.func)  # the schedule fires
        self.assertEqual(self.mailed("M9 bolt"), [("alice",)])


class VersionOneHandBack(Switches):
    """1.0 switched InvenTree's email off for the users it marked: given back, not lazily."""

    def mark_alice(self) -> None:
        core = registry.get_plugin(CORE, active=None).plugin_config()
        alice = self.people["alice"]
        PluginUserSetting.set_setting("NOTIFY_BY_EMAIL", False, None, user=alice, plugin=core)
        PluginUserSetting.set_setting(
            MARK, True, None, user=alice, plugin=self.plugin.plugin_config()
        )

    def alice_core_email(self) -> str:
        return PluginUserSetting.objects.get(
            plugin__key=CORE, key="NOTIFY_BY_EMAIL", user=self.people["alice"]
        ).value

    def marks(self) -> int:
        return PluginUserSetting.objects.filter(plugin__key=SLUG, key=MARK).count()

    def test_a_notification_no_longer_does_it(self):
        self.mark_alice()
        self.notify_low(self.low_part("M10 nut"))
        self.assertEqual(self.marks(), 1)
        self.assertEqual(self.alice_core_email(), "False")

    def test_activation_does_it(self):
        with mock.patch("inventree_notify_plus.inventree.wakeup.offload"):
            registry.set_plugin_state(SLUG, False)
        self.mark_alice()
        registry.set_plugin_state(SLUG, True)
        self.assertEqual(self.alice_core_email(), "True")
        self.assertEqual(self.marks(), 0)

    def test_the_migration_does_it(self):
        self.mark_alice()
        migration = import_module("inventree_notify_plus.migrations.0006_give_back_v1_email")
        migration.give_back(apps, SimpleNamespace(connection=connection))
        self.assertEqual(self.alice_core_email(), "True")
        self.assertEqual(self.marks(), 0)
        migration.give_back(apps, SimpleNamespace(connection=connection))  # again: nothing
        self.assertEqual(self.alice_core_email(), "True")


class IntakeErrorsStayInTheirSavepoint(Switches):
    def test_a_real_database_error_in_intake_leaves_inventree_email_going_out(self):
        """A read of the intake fails in PostgreSQL itself, inside InvenTree's transaction."""
        from inventree_notify_plus.inventree import plugin_settings, recipients

        def broken_read(*args):
            with connection.cursor() as cursor:
                cursor.execute("SELECT no_such_column FROM notify_plus_no_such_table")

        self.assertTrue(connection.in_atomic_block)  # the test's transaction, like InvenTree's
        for read in (plugin_settings, "read_all"), (recipients, "stored_choices"):
            with self.subTest(read=read[1]), mock.patch.object(*read, side_effect=broken_read):
                mail.outbox = []
                name = f"M12 bolt {read[1]}"
                self.notify_low(self.low_part(name))
                # InvenTree's own email went out to its subscribers, as without Notify Plus
                self.assertEqual(self.mailed(name), [("alice", "bob", "erin")])
                self.assertFalse(Delivery.objects.exists())
        self.assertEqual(NotificationMessage.objects.filter(user=self.people["bob"]).count(), 2)


class LowStockEpisodeIsBounded(Switches):
    """A low-stock condition whose end cannot be seen does not keep the part silent."""

    def a_day_later(self, part: Part) -> None:
        """InvenTree's 24-hour memory runs out; the condition started a day ago."""
        NotificationEntry.objects.all().delete()
        Condition.objects.filter(key=f"low_stock:part:{part.pk}").update(
            since=timezone.now() - timedelta(hours=24)
        )

    def rows(self, part: Part) -> int:
        return Delivery.objects.filter(title=f"Low stock: {part.full_name}").count()

    def integration(self, events: bool, schedule: bool):
        from common.settings import get_global_setting

        values = {"ENABLE_PLUGINS_EVENTS": events, "ENABLE_PLUGINS_SCHEDULE": schedule}

        def setting(key, *args, **kwargs):
            return values[key] if key in values else get_global_setting(key, *args, **kwargs)

        return mock.patch("common.settings.get_global_setting", side_effect=setting)

    def test_without_event_or_schedule_integration_a_new_day_is_a_new_episode(self):
        part = self.low_part("M14 bolt")
        with self.integration(events=False, schedule=False):
            self.notify_low(part)
            first = self.rows(part)
            self.a_day_later(part)
            mail.outbox = []
            self.notify_low(part)
        self.assertGreater(first, 0)
        self.assertEqual(self.rows(part), 2 * first)  # announced again, on every channel
        self.assertEqual(self.mailed("M14 bolt"), [])  # by Notify Plus, not twice by InvenTree

    def test_with_schedule_integration_it_stays_announced_once(self):
        part = self.low_part("M16 bolt")
        with self.integration(events=False, schedule=True):
            self.notify_low(part)
            first = self.rows(part)
            self.a_day_later(part)
            mail.outbox = []
            self.notify_low(part)
        self.assertEqual(self.rows(part), first)
        self.assertEqual(self.mailed("M16 bolt"), [])  # deliberately not repeated

    def test_a_deleted_part_ends_its_condition(self):
        from inventree_notify_plus.inventree.recovery import check_recovery

        part = self.low_part("M18 bolt")
        other = self.low_part("M20 bolt")
        self.notify_low(part)
        self.notify_low(other)
        key, other_key = f"low_stock:part:{part.pk}", f"low_stock:part:{other.pk}"
        self.assertEqual({c.key for c in episodes.active("low_stock:part:")}, {key, other_key})
        # the event (event integration on)
        pk = part.pk
        part.active = False
        part.save()
        part.delete()
        self.plugin.process_event("part_part.deleted", id=pk, model="Part")
        self.assertEqual({c.key for c in episodes.active("low_stock:part:")}, {other_key})
        # the sweep (schedule integration on) finds a part gone without an event
        other.active = False
        other.save()
        other.delete()
        check_recovery(self.plugin)
        self.assertEqual(episodes.active("low_stock:part:"), [])
