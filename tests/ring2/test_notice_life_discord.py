"""Ring 2: inside InvenTree, a low part's Discord message is edited to resolved when stock returns
(issue 17, part 1), through the plugin's own path: the notification, the worker's dispatcher, the
recovery check, the follow-up, the dispatcher again."""

from __future__ import annotations

import os
from datetime import timedelta
from unittest import mock

from django.contrib.auth.models import Group, User
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartStar
from plugin import registry
from stock.models import StockItem

from inventree_notify_plus.channels.discord import RESOLVED_COLOUR
from inventree_notify_plus.devtools.standins import WebhookStandIn
from inventree_notify_plus.inventree.recovery import check_recovery
from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.outbox.clock import database_now
from inventree_notify_plus.validation import ALLOWED_HOSTS_ENV


class DiscordMessageResolvedInPlace(InvenTreeTestCase):
    """A part below its minimum announced on Discord; stock comes back; the message turns green."""

    roles = ["part.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.part = Part.objects.create(
            name="M5 washer", category=PartCategory.objects.create(name="Washers"), minimum_stock=10
        )
        StockItem.objects.create(part=cls.part, quantity=3)
        cls.alice = User.objects.create_user("alice", "alice@example.com", "x")
        cls.alice.groups.add(Group.objects.get(name=cls.group.name))
        PartStar.objects.create(part=cls.part, user=cls.alice)

    def setUp(self):
        super().setUp()
        self.discord = self.enterContext(WebhookStandIn("discord"))
        self.enterContext(
            mock.patch.dict(os.environ, {ALLOWED_HOSTS_ENV: f"127.0.0.1:{self.discord.port}"})
        )
        for key in ("NOTIFICATIONS_LOW_STOCK", "NOTIFICATIONS_RECOVERY", "GROUP_INTERVAL"):
            self.plugin.set_setting(key, self.plugin.SETTINGS[key]["default"])
        self.plugin.set_setting("SLACK_WEBHOOK_URL", "")
        self.plugin.set_setting("DISCORD_WEBHOOK_URL", self.discord.url)

    def drain(self) -> None:
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)

    def test_low_part_message_is_edited_to_resolved_when_stock_comes_back(self):
        context = {"part": self.part, "link": "http://inventree.local/part/1/"}
        self.plugin.send_notification(self.part, "part.notify_low_stock", [self.alice], context)
        self.drain()
        self.assertEqual(len(self.discord.accepted), 1)
        posted = self.discord.message(0)
        self.assertEqual(posted.payload["embeds"][0]["title"], "Low stock: M5 washer")
        self.assertEqual(
            Delivery.objects.get(channel="discord", kind="notice").external_id, posted.id
        )

        StockItem.objects.create(part=self.part, quantity=20)
        check_recovery(self.plugin)  # the sweep's check (the stock event's does the same)
        self.drain()

        self.assertEqual(len(self.discord.accepted), 1, "no new message at the defaults")
        self.assertEqual(posted.edits, 1)
        embed = posted.payload["embeds"][0]
        self.assertEqual(embed["color"], RESOLVED_COLOUR)
        self.assertIn("✅ Resolved <t:", embed["description"])
        self.assertIn("available now 23", embed["description"])
        update = Delivery.objects.get(channel="discord", kind="update")
        self.assertEqual((update.status, update.attempts), ("sent", 1))
        self.assertEqual(update.category, "notify_plus.low_stock_recovered")
        # at the defaults no recovery notice is sent anywhere; only the edit was queued
        self.assertFalse(Delivery.objects.filter(kind="notice", category=update.category).exists())
        # the delivery log lists the edit as a row of its own, the webhook still masked
        self.client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))
        log = self.client.get("/plugin/notify-plus/deliveries/").json()["results"]
        edits = [r for r in log if r["kind"] == "update"]
        self.assertEqual([(r["channel"], r["status"]) for r in edits], [("discord", "sent")])
        self.assertNotIn("SeCrEtToKeN", str(log))

    def test_with_recovery_notices_on_the_edit_and_the_recovery_message_both_arrive(self):
        self.plugin.set_setting("NOTIFICATIONS_RECOVERY", True)
        context = {"part": self.part, "link": "http://inventree.local/part/1/"}
        self.plugin.send_notification(self.part, "part.notify_low_stock", [self.alice], context)
        self.drain()
        StockItem.objects.create(part=self.part, quantity=20)
        check_recovery(self.plugin)
        self.drain()

        # the edit goes at once; the recovery message waits out the grouping minute
        self.assertEqual(self.discord.message(0).edits, 1)
        self.assertEqual(len(self.discord.accepted), 1)
        later = build_dispatcher(self.plugin)
        later.clock = lambda: database_now() + timedelta(seconds=61)
        later.drain(budget_seconds=5, wait=False)
        self.assertEqual(len(self.discord.accepted), 2)
        self.assertEqual(self.discord.message(0).edits, 1)
        self.assertEqual(
            self.discord.message(1).payload["embeds"][0]["title"], "Stock recovered: M5 washer"
        )
