"""Ring 2: the plugin inside a real InvenTree (run by InvenTree's test runner, see README).

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2
"""

from __future__ import annotations

import os
from decimal import Decimal
from unittest import mock

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartCategoryStar, PartStar
from plugin import registry
from plugin.models import PluginSetting

from inventree_notify_plus.devtools.standins import Answer, WebhookStandIn
from inventree_notify_plus.inventree.subscribers import part_subscribers
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.validation import ALLOWED_HOSTS_ENV

SLACK = "https://hooks.slack.com/services/T0/B0/secret"
DISCORD = "https://discord.com/api/webhooks/1/secret"


class NotifyPlusInInvenTree(InvenTreeTestCase):
    """The plugin class, subscriber lookup, routing of core notifications, settings validation."""

    roles = ["part.view", "part.change", "build.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.parent = PartCategory.objects.create(name="Mechanical")
        cls.child = PartCategory.objects.create(name="Fasteners", parent=cls.parent)
        cls.part = Part.objects.create(
            name="M3 screw", IPN="SCR-003", category=cls.child, minimum_stock=10, component=True
        )
        viewers = Group.objects.get(name=cls.group.name)
        cls.alice = User.objects.create_user("alice", "alice@example.com", "x")
        cls.bob = User.objects.create_user("bob", "bob@example.com", "x")
        cls.carol = User.objects.create_user("carol", "carol@example.com", "x")
        cls.nobody = User.objects.create_user(
            "nobody", "nobody@example.com", "x"
        )  # no view permission
        for user in (cls.alice, cls.bob, cls.carol):
            user.groups.add(viewers)
        PartStar.objects.create(part=cls.part, user=cls.alice)
        PartCategoryStar.objects.create(category=cls.parent, user=cls.bob)
        PartStar.objects.create(part=cls.part, user=cls.nobody)

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting("DISCORD_WEBHOOK_URL", DISCORD)
        self.plugin.set_setting("NOTIFICATIONS_LOW_STOCK", True)

    def test_plugin_is_registered_with_its_mixins(self):
        self.assertIsNotNone(self.plugin)
        for mixin in ("notification", "settings", "events", "schedule", "app", "urls"):
            self.assertTrue(self.plugin.mixin_enabled(mixin), mixin)
        self.assertTrue(self.plugin.check_version())

    def test_subscribers_match_inventree_in_constant_queries(self):
        expected = set(self.part.get_subscribers())
        self.assertEqual(set(part_subscribers(self.part)), expected)
        with CaptureQueriesContext(connection) as few:
            part_subscribers(self.part)
        for n in range(20):
            user = User.objects.create_user(f"extra{n}", f"e{n}@example.com", "x")
            PartCategoryStar.objects.create(category=self.child, user=user)
        with CaptureQueriesContext(connection) as many:
            self.assertEqual(len(part_subscribers(self.part)), len(expected) + 20)
        with CaptureQueriesContext(connection) as core:
            self.assertEqual(len(self.part.get_subscribers()), len(expected) + 20)
        print(
            f"\nsubscriber lookup, {len(expected) + 20} subscribers: InvenTree get_subscribers "
            f"{len(core)} queries, Notify Plus {len(many)} (with {len(expected)}: {len(few)})"
        )
        self.assertEqual(len(few), len(many))

    def test_queries_per_notice_do_not_grow_with_subscribers(self):
        def queries_for(subscribers: int) -> int:
            part = Part.objects.create(
                name=f"Part for {subscribers}", category=self.child, minimum_stock=5
            )
            users = []
            for n in range(subscribers):
                user = User.objects.create_user(
                    f"s{subscribers}_{n}", f"s{subscribers}_{n}@example.com", "x"
                )
                PartStar.objects.create(part=part, user=user)
                users.append(user)
            context = {"part": part, "link": "x", "template": {"html": "x", "subject": "x"}}
            with CaptureQueriesContext(connection) as queries:
                self.plugin.send_notification(part, "part.notify_low_stock", users, context)
            self.assertEqual(
                Delivery.objects.filter(
                    title=f"Low stock: {part.full_name}", channel="email"
                ).count(),
                subscribers,
            )
            return len(queries)

        queries_for(1)  # warm up: settings rows are created on first read
        few, many = queries_for(5), queries_for(50)
        print(f"\nNotify Plus send_notification: {few} queries for 5 subscribers, {many} for 50")
        self.assertEqual(few, many)

    def test_low_stock_routes_to_channels_and_each_subscriber_once(self):
        from part.tasks import notify_low_stock

        notify_low_stock(self.part)
        rows = Delivery.objects.filter(category="part.notify_low_stock")
        self.assertEqual(
            sorted(rows.values_list("destination", flat=True)),
            sorted(
                [
                    "slack:default",
                    "discord:default",
                    f"email:user:{self.alice.pk}",
                    f"email:user:{self.bob.pk}",
                ]
            ),
        )
        notice = rows.first().notice
        facts = {f["label"]: f["value"] for f in notice["facts"]}
        self.assertEqual(facts["IPN"], "SCR-003")
        self.assertEqual(facts["Minimum"], "10")
        self.assertEqual(facts["Category"], "Mechanical / Fasteners")
        self.assertIn(f"/part/{self.part.pk}", notice["link"])
        # the same condition is not announced again while it lasts
        self.plugin.send_notification(
            self.part, "part.notify_low_stock", [self.alice], {"part": self.part, "link": "x"}
        )
        self.assertEqual(rows.count(), 4)

    def test_low_stock_switch_off_sends_nothing(self):
        self.plugin.set_setting("NOTIFICATIONS_LOW_STOCK", False)
        sent = self.plugin.send_notification(
            self.part, "part.notify_low_stock", [self.alice], {"part": self.part}
        )
        self.assertFalse(sent)
        self.assertFalse(Delivery.objects.exists())

    def test_location_managers_hear_about_low_stock_held_there(self):
        from stock.models import StockItem, StockLocation

        from inventree_notify_plus.models import LocationSubscription

        store = StockLocation.objects.create(name="Store")
        shelf = StockLocation.objects.create(name="Shelf A", parent=store)
        StockItem.objects.create(part=self.part, location=shelf, quantity=3)
        LocationSubscription.objects.create(user=self.carol, location_id=store.pk)
        self.plugin.send_notification(
            self.part, "part.notify_low_stock", [self.alice], {"part": self.part, "link": "x"}
        )
        emails = set(Delivery.objects.filter(channel="email").values_list("destination", flat=True))
        self.assertEqual(emails, {f"email:user:{self.alice.pk}", f"email:user:{self.carol.pk}"})
        notice = Delivery.objects.first().notice
        self.assertEqual(set(notice["scope"]["location_path"]), {store.pk, shelf.pk})

    def test_routes_send_categories_to_their_channels(self):
        self.plugin.set_setting(
            "SLACK_EXTRA_WEBHOOKS", "purchasing=https://hooks.slack.com/services/T/B/p"
        )
        self.plugin.set_setting(
            "ROUTES",
            f'[{{"category": "part.notify_low_stock", "part_category": [{self.parent.pk}], "to": ["slack:purchasing"]}}]',
        )
        self.plugin.send_notification(
            self.part, "part.notify_low_stock", [], {"part": self.part, "link": "x"}
        )
        self.assertEqual(
            list(Delivery.objects.values_list("destination", flat=True)), ["slack:purchasing"]
        )
        other = PartCategory.objects.create(name="Electronics")
        chip = Part.objects.create(name="Chip", category=other, minimum_stock=5)
        self.plugin.send_notification(
            chip, "part.notify_low_stock", [], {"part": chip, "link": "x"}
        )
        self.assertEqual(
            sorted(
                Delivery.objects.filter(title="Low stock: Chip").values_list(
                    "destination", flat=True
                )
            ),
            ["discord:default", "slack:default"],
        )

    def test_recovery_ends_the_condition_and_is_announced_when_wanted(self):
        from stock.models import StockItem

        from inventree_notify_plus.inventree.recovery import check_recovery
        from inventree_notify_plus.models import Condition

        self.plugin.set_setting("NOTIFICATIONS_RECOVERY", True)
        self.plugin.send_notification(
            self.part, "part.notify_low_stock", [self.alice], {"part": self.part, "link": "x"}
        )
        self.assertTrue(Condition.objects.filter(key=f"low_stock:part:{self.part.pk}").exists())
        StockItem.objects.create(part=self.part, quantity=50)
        check_recovery(self.plugin)  # what the sweep does when event integration is off
        recovered = Delivery.objects.filter(category="notify_plus.low_stock_recovered")
        self.assertIn(
            f"email:user:{self.alice.pk}", set(recovered.values_list("destination", flat=True))
        )
        self.assertEqual(recovered.first().title, f"Stock recovered: {self.part.full_name}")
        # the next drop is a new condition, announced again
        StockItem.objects.filter(part=self.part).delete()
        self.plugin.send_notification(
            self.part, "part.notify_low_stock", [self.alice], {"part": self.part, "link": "x"}
        )
        self.assertEqual(
            Delivery.objects.filter(category="part.notify_low_stock", channel="slack").count(), 2
        )

    def test_directory_skips_inactive_users_and_missing_addresses(self):
        from inventree_notify_plus.channels.base import Skip
        from inventree_notify_plus.outbox.destinations import SettingsDirectory

        directory = SettingsDirectory(self.plugin.routing_config())
        self.assertEqual(
            directory.resolve(f"email:user:{self.alice.pk}").address, "alice@example.com"
        )
        self.carol.is_active = False
        self.carol.save()
        self.assertEqual(
            directory.resolve(f"email:user:{self.carol.pk}"), Skip("the user is inactive")
        )
        mute = User.objects.create_user("mute", "", "x")
        self.assertEqual(
            directory.resolve(f"email:user:{mute.pk}"), Skip("the user has no email address")
        )
        self.assertEqual(directory.resolve("email:user:999999"), Skip("the user no longer exists"))
        self.assertTrue(directory.target_exists(f"part.part:{self.part.pk}"))
        self.assertFalse(directory.target_exists("part.part:999999"))
        self.assertEqual(directory.resolve("slack:default").address, SLACK)

    def test_without_app_integration_it_still_delivers_best_effort(self):
        from unittest import mock

        with (
            mock.patch.object(type(self.plugin), "outbox_ready", return_value=False),
            mock.patch("InvenTree.tasks.offload_task") as offload,
        ):
            sent = self.plugin.send_notification(
                self.part, "part.notify_low_stock", [self.alice], {"part": self.part, "link": "x"}
            )
        self.assertTrue(sent)
        self.assertFalse(Delivery.objects.exists())
        task, notice, planned = offload.call_args.args
        self.assertEqual(task, "inventree_notify_plus.tasks.send_best_effort")
        self.assertEqual(notice["category"], "part.notify_low_stock")
        self.assertIn("slack:default", [p["destination"] for p in planned])

    def test_prune_deletes_old_notifications_and_deliveries(self):
        from datetime import timedelta

        from common.models import NotificationMessage
        from django.utils import timezone
        from part.tasks import notify_low_stock

        notify_low_stock(self.part)
        NotificationMessage.objects.update(creation=timezone.now() - timedelta(days=40))
        Delivery.objects.update(status="sent", created_at=timezone.now() - timedelta(days=40))
        self.plugin.set_setting("NOTIFICATIONS_DELETE_DAYS", 30)
        self.plugin.prune()
        self.assertFalse(NotificationMessage.objects.exists())
        self.assertFalse(Delivery.objects.exists())

    def test_category_path_does_not_trust_a_stale_tree_index(self):
        """Seen live: InvenTree rebuilds the category tree in the background, and a sibling
        created moments before briefly shared the new category's tree fields."""
        from inventree_notify_plus.inventree.notices import low_stock_notice

        purchasing = PartCategory.objects.create(name="Purchasing", parent=self.parent)
        lab = PartCategory.objects.create(name="Lab", parent=self.parent)
        PartCategory.objects.filter(pk=lab.pk).update(lft=purchasing.lft, rght=purchasing.rght)
        probe = Part.objects.create(
            name="Probe", category=PartCategory.objects.get(pk=lab.pk), minimum_stock=5
        )
        notice = low_stock_notice(probe, "x")
        self.assertEqual(notice.scope["part_category_path"], [self.parent.pk, lab.pk])
        self.assertIn("Mechanical / Lab", [f.value for f in notice.facts])

    def test_settings_validation_errors(self):
        config = self.plugin.plugin_config()
        for key, value, text in [
            ("SLACK_WEBHOOK_URL", "http://hooks.slack.com/services/x", "https"),
            ("DISCORD_WEBHOOK_URL", "https://evil.example.com/api/webhooks/1/x", "discord.com"),
            ("ROUTES", '[{"to": ["slack:default"]}]', "matches nothing"),
            ("GROUP_INTERVAL", "-5", "from 0 to 3600"),
            ("RETRY_MAX_ATTEMPTS", "0", "from 1 to 100"),
            ("SLACK_EXTRA_WEBHOOKS", "lab=https://example.com/services/x", "hooks.slack.com"),
        ]:
            setting = PluginSetting(plugin=config, key=key, value=value)
            with self.assertRaises(ValidationError) as err:
                setting.full_clean()
            self.assertIn(text, str(err.exception))

    def test_build_shortfall_lists_short_lines(self):
        from build.models import Build
        from part.models import BomItem

        assembly = Part.objects.create(name="Widget", category=self.child, assembly=True)
        BomItem.objects.create(part=assembly, sub_part=self.part, quantity=Decimal(4))
        PartStar.objects.create(part=assembly, user=self.alice)
        from build.tasks import check_build_stock

        check_build_stock(
            Build.objects.create(part=assembly, quantity=5, reference="BO-0042", title="x")
        )
        rows = Delivery.objects.filter(category="build.stock_required")
        self.assertIn(
            f"email:user:{self.alice.pk}", set(rows.values_list("destination", flat=True))
        )
        notice = rows.first().notice
        self.assertEqual(notice["title"], "Build order BO-0042 lacks parts")
        line = notice["lines"][0]
        self.assertEqual(line["title"], self.part.full_name)
        self.assertEqual({f["label"]: f["value"] for f in line["facts"]}["required"], "20")


class NotifyPlusAdminApi(InvenTreeTestCase):
    """The delivery log, resend, test send and location endpoints, through InvenTree's URLs."""

    roles = ["part.view", "stock_location.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.admin = User.objects.create_superuser("boss", "boss@example.com", "x")

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)

    def test_delivery_log_for_admins_only_with_masked_destinations(self):
        from inventree_notify_plus.notice import Notice
        from inventree_notify_plus.outbox.store import enqueue
        from inventree_notify_plus.routing.plan import PlannedDelivery

        enqueue(
            Notice(uid="u1", category="part.notify_low_stock", title="Low stock: X", summary=""),
            [
                PlannedDelivery(
                    "slack",
                    "slack:default",
                    "slack 'default' (https://hooks.slack.com/services/***)",
                )
            ],
        )
        Delivery.objects.update(status="unknown")
        self.client.force_login(User.objects.create_user("plain", "plain@example.com", "x"))
        self.assertEqual(self.client.get("/plugin/notify-plus/deliveries/").status_code, 403)
        self.client.force_login(self.admin)
        answer = self.client.get("/plugin/notify-plus/deliveries/").json()
        self.assertEqual(answer["counts"]["unknown"], 1)
        self.assertNotIn("secret", str(answer))
        row = answer["results"][0]
        resent = self.client.post(f"/plugin/notify-plus/deliveries/{row['id']}/resend/")
        self.assertEqual(resent.status_code, 200)
        self.assertEqual(Delivery.objects.get().status, "pending")

    def test_test_send_returns_the_channels_answer(self):
        self.client.force_login(self.admin)
        answer = self.client.post("/plugin/notify-plus/test/discord/").json()
        self.assertEqual(answer["outcome"], "not sent")
        self.assertIn("no longer configured", answer["detail"])
        # Loopback only: Slack's answer comes from a stand-in, a 503 (a transient failure).
        slack = self.enterContext(WebhookStandIn("slack"))
        slack.then(Answer(503, "service unavailable"))
        self.enterContext(
            mock.patch.dict(os.environ, {ALLOWED_HOSTS_ENV: f"127.0.0.1:{slack.port}"})
        )
        self.plugin.set_setting("SLACK_WEBHOOK_URL", f"{slack.url}/secret")
        answer = self.client.post("/plugin/notify-plus/test/slack/").json()
        self.assertEqual(answer["outcome"], "retry", answer)
        self.assertIn("503", answer["detail"])
        self.assertNotIn("secret", str(answer))

    def test_users_subscribe_to_locations(self):
        from stock.models import StockLocation

        store = StockLocation.objects.create(name="Store")
        created = self.client.post(
            "/plugin/notify-plus/locations/",
            {"location": store.pk},
            content_type="application/json",
        )
        self.assertEqual(created.status_code, 201)
        self.assertEqual(
            self.client.get("/plugin/notify-plus/locations/").json(), {"locations": [store.pk]}
        )
        self.client.delete(
            "/plugin/notify-plus/locations/",
            {"location": store.pk},
            content_type="application/json",
        )
        self.assertEqual(
            self.client.get("/plugin/notify-plus/locations/").json(), {"locations": []}
        )
