"""Ring 2: nobody loses email and nobody gets email they said no to, on every admin path.

Runs InvenTree's own notification code (``notify_low_stock``, ``check_build_stock``,
``trigger_notification``) with InvenTree's email method as it ships, and records whom that
method mails (``InvenTree.helpers_email.send_email``) beside the deliveries Notify Plus queues.
"""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartCategoryStar, PartStar
from plugin import registry
from plugin.models import PluginSetting, PluginUserSetting

from inventree_notify_plus.inventree import readiness
from inventree_notify_plus.models import Delivery

SLACK = "https://hooks.slack.com/services/T0/B0/secret"
CORE = "inventree-email-notification"


class EmailGoesOutOnceAndOnlyWithConsent(InvenTreeTestCase):
    """Whom InvenTree's email method mails and whom Notify Plus queues, per path."""

    roles = ["part.view", "part.change", "build.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.category = PartCategory.objects.create(name="Fasteners")
        viewers = Group.objects.get(name=cls.group.name)
        core = registry.get_plugin(CORE, active=None).plugin_config()
        cls.people = {}
        for name in ("alice", "bob", "dora", "erin", "fred"):
            user = User.objects.create_user(name, f"{name}@example.com", "x")
            user.groups.add(viewers)
            cls.people[name] = user
        # dora switched InvenTree's email off before Notify Plus came; fred too, but then
        # opted in with Notify Plus's own setting; erin said no in Notify Plus only.
        for name in ("dora", "fred"):
            PluginUserSetting.set_setting(
                "NOTIFY_BY_EMAIL", False, None, user=cls.people[name], plugin=core
            )
        ours = cls.plugin.plugin_config()
        PluginUserSetting.set_setting(
            "NOTIFY_PLUS_EMAIL", "on", None, user=cls.people["fred"], plugin=ours
        )
        PluginUserSetting.set_setting(
            "NOTIFY_PLUS_EMAIL", "off", None, user=cls.people["erin"], plugin=ours
        )
        PartCategoryStar.objects.create(category=cls.category, user=cls.people["bob"])

    def setUp(self):
        super().setUp()
        readiness.forget()
        registry.set_plugin_state("notify-plus", True)
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting("EMAIL_ENABLE", True)
        self.plugin.set_setting("NOTIFICATIONS_ENABLE", True)

    def low_part(self, name: str) -> Part:
        part = Part.objects.create(name=name, category=self.category, minimum_stock=10)
        for person in ("alice", "dora", "erin", "fred"):
            PartStar.objects.create(part=part, user=self.people[person])
        return part

    def drop(self, part: Part) -> tuple[set[str], set[str]]:
        """InvenTree's low-stock check; returns (InvenTree mailed, Notify Plus queued) names."""
        from part.tasks import notify_low_stock

        with mock.patch("InvenTree.helpers_email.send_email", return_value=(True, None)) as core:
            notify_low_stock(part)
        mailed = {addr.split("@")[0] for call in core.call_args_list for addr in call.args[2] or []}
        queued = {
            User.objects.get(pk=int(d.split(":")[-1])).username
            for d in Delivery.objects.filter(
                channel="email", title=f"Low stock: {part.full_name}"
            ).values_list("destination", flat=True)
        }
        return mailed, queued

    def core_settings(self) -> dict[str, str]:
        rows = PluginUserSetting.objects.filter(plugin__key=CORE, key="NOTIFY_BY_EMAIL")
        return {r.user.username: r.value for r in rows}

    def test_active_each_consenting_subscriber_once_by_notify_plus(self):
        before = self.core_settings()
        mailed, queued = self.drop(self.low_part("M3 screw"))
        self.assertEqual(mailed, set())  # InvenTree's method skips everyone Notify Plus took
        self.assertEqual(queued, {"alice", "bob", "fred"})  # not dora (InvenTree no), not erin
        self.assertEqual(self.core_settings(), before)  # nothing written into InvenTree

    def test_deactivating_gives_email_back_at_once(self):
        registry.set_plugin_state("notify-plus", False)
        mailed, queued = self.drop(self.low_part("M4 nut"))
        self.assertEqual(mailed, {"alice", "bob", "erin"})  # InvenTree's own choice, as ever
        self.assertEqual(queued, set())

    def test_code_gone_leaves_inventree_exactly_as_before(self):
        """Uninstalled without deactivating: InvenTree's method runs without the guard."""
        core = type(registry.get_plugin(CORE, active=None))
        guarded = core.send_notification
        self.assertTrue(guarded.notify_plus_guard)
        core.send_notification = guarded.__wrapped__
        try:
            with mock.patch.object(type(self.plugin), "send_notification", return_value=False):
                mailed, _ = self.drop(self.low_part("M5 washer"))
        finally:
            core.send_notification = guarded
        self.assertEqual(mailed, {"alice", "bob", "erin"})

    def test_missing_migrations_leave_email_with_inventree_and_say_so(self):
        pending = readiness.Readiness(app_installed=True, pending=("0001_initial",))
        with (
            mock.patch.object(readiness, "check", return_value=pending),
            mock.patch("InvenTree.tasks.offload_task") as offload,
        ):
            mailed, queued = self.drop(self.low_part("M6 bolt"))
            warnings = self.plugin.integration_warnings()
        self.assertEqual(mailed, {"alice", "bob", "erin"})
        self.assertEqual(queued, set())
        self.assertIn("check_for_migrations", " ".join(warnings))
        # Slack still hears about it, best effort from the worker
        self.assertIn("send_best_effort", str(offload.call_args_list))

    def test_a_database_error_while_queueing_leaves_email_with_inventree(self):
        with mock.patch(
            "inventree_notify_plus.outbox.store.enqueue", side_effect=DatabaseError("disk full")
        ):
            mailed, queued = self.drop(self.low_part("M8 bolt"))
        self.assertEqual(mailed, {"alice", "bob", "erin"})
        self.assertEqual(queued, set())

    def test_email_off_in_notify_plus_gives_email_back(self):
        self.plugin.set_setting("EMAIL_ENABLE", False)
        mailed, queued = self.drop(self.low_part("M10 nut"))
        self.assertEqual(mailed, {"alice", "bob", "erin"})
        self.assertEqual(queued, set())

    def test_version_one_handover_is_undone_exactly(self):
        from inventree_notify_plus.inventree import handback

        core = registry.get_plugin(CORE, active=None).plugin_config()
        alice = self.people["alice"]
        PluginUserSetting.set_setting("NOTIFY_BY_EMAIL", False, None, user=alice, plugin=core)
        PluginUserSetting.set_setting(
            handback.V1_HANDOVER_MARK,
            True,
            None,
            user=alice,
            plugin=self.plugin.plugin_config(),
        )
        self.assertEqual(handback.undo_v1_handover(), 1)
        settings = self.core_settings()
        self.assertEqual(settings["alice"], "True")
        self.assertEqual(settings["dora"], "False")  # her own choice stays
        self.assertEqual(handback.undo_v1_handover(), 0)

    def test_notification_without_target_object_passes(self):
        from common.models import NotificationMessage
        from common.notifications import trigger_notification
        from error_report.models import Error

        errors = Error.objects.count()
        with mock.patch("InvenTree.helpers_email.send_email", return_value=(True, None)) as core:
            trigger_notification(
                None,
                "update_available",
                targets=[self.people["alice"], self.people["erin"]],
                context={
                    "name": "Update available",
                    "message": "InvenTree 1.5.1 is out",
                    "link": "https://example.com",
                    "template": {"html": "email/new_order_assigned.html", "subject": "Update"},
                },
                notification_uid=10501,
            )
        self.assertEqual(Error.objects.count(), errors)
        self.assertTrue(NotificationMessage.objects.filter(category="update_available").exists())
        rows = Delivery.objects.filter(category="update_available")
        self.assertEqual(
            set(rows.values_list("destination", flat=True)),
            {"slack:default", f"email:user:{self.people['alice'].pk}"},
        )
        self.assertFalse(core.called)


class BuildOrderShortfallOnceAtCreation(InvenTreeTestCase):
    """The seed says the check runs when a build order is created; announce it once."""

    roles = ["part.view", "build.view"]

    def test_created_announces_issued_does_not_repeat(self):
        from build.models import Build
        from common.models import NotificationEntry
        from part.models import BomItem

        from inventree_notify_plus.inventree import events

        registry.set_plugin_state("notify-plus", True)
        plugin = registry.get_plugin("notify-plus", active=None)
        plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        viewers = Group.objects.get(name=self.group.name)
        alice = User.objects.create_user("alice2", "alice2@example.com", "x")
        alice.groups.add(viewers)
        screw = Part.objects.create(name="Screw", component=True)
        widget = Part.objects.create(name="Widget", assembly=True)
        BomItem.objects.create(part=widget, sub_part=screw, quantity=Decimal(4))
        PartStar.objects.create(part=widget, user=alice)
        build = Build.objects.create(part=widget, quantity=5, reference="BO-0077", title="x")
        with mock.patch("InvenTree.helpers_email.send_email", return_value=(True, None)) as core:
            self.assertTrue(plugin.wants_process_event(events.BUILD_CREATED))
            plugin.process_event(events.BUILD_CREATED, id=build.pk, model="Build")
            rows = Delivery.objects.filter(category="build.stock_required")
            self.assertEqual(
                sorted(rows.values_list("destination", flat=True)),
                [f"email:user:{alice.pk}", "slack:default"],
            )
            # issued a day later: InvenTree checks again, its 24-hour memory has passed
            from build.tasks import check_build_stock

            NotificationEntry.objects.all().delete()
            check_build_stock(build)
        self.assertEqual(rows.count(), 2)
        self.assertFalse(core.called)  # and InvenTree's email did not announce it either


class RoutesRefuseTyposAndSurviveRemovals(InvenTreeTestCase):
    """A ROUTES typo is refused on save; a destination removed later skips only its route."""

    roles = ["part.view"]

    def setUp(self):
        super().setUp()
        registry.set_plugin_state("notify-plus", True)
        self.plugin = registry.get_plugin("notify-plus", active=None)
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting(
            "SLACK_EXTRA_WEBHOOKS",
            "purchasing=https://hooks.slack.com/services/T/B/p lab=https://hooks.slack.com/services/T/B/l",
        )

    def test_typo_refused_naming_the_configured_destinations(self):
        setting = PluginSetting(
            plugin=self.plugin.plugin_config(),
            key="ROUTES",
            value='[{"part_category": [1], "to": ["slack:purchasng"]}]',
        )
        with self.assertRaises(ValidationError) as err:
            setting.full_clean()
        self.assertIn("unknown destination 'slack:purchasng'", str(err.exception))
        self.assertIn("slack:purchasing", str(err.exception))

    def test_removed_destination_skips_its_route_only(self):
        purchasing = PartCategory.objects.create(name="Purchasing")
        lab = PartCategory.objects.create(name="Lab")
        self.plugin.set_setting(
            "ROUTES",
            f'[{{"part_category": [{lab.pk}], "to": ["slack:lab"]}},'
            f' {{"part_category": [{purchasing.pk}], "to": ["slack:purchasing"]}}]',
        )
        self.plugin.set_setting(
            "SLACK_EXTRA_WEBHOOKS", "purchasing=https://hooks.slack.com/services/T/B/p"
        )
        bolt = Part.objects.create(name="Bolt", category=purchasing, minimum_stock=5)
        probe = Part.objects.create(name="Probe", category=lab, minimum_stock=5)
        for part in (bolt, probe):
            self.plugin.send_notification(
                part, "part.notify_low_stock", [], {"part": part, "link": "x"}
            )
        where = dict(Delivery.objects.values_list("title", "destination"))
        self.assertEqual(where["Low stock: Bolt"], "slack:purchasing")
        self.assertEqual(where["Low stock: Probe"], "slack:default")
        warnings = " ".join(self.plugin.integration_warnings())
        self.assertIn("Route 1", warnings)
        self.assertIn("slack:lab", warnings)
