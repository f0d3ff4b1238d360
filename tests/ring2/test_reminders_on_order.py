"""Ring 2: low stock covered by real purchase orders, and reminders of open episodes (issue 19).

InvenTree's own low-stock notification (``part.tasks.notify_low_stock``) drives the intake; the
quantities come from InvenTree's purchase orders (supplier, supplier part, order, line, placed,
received).
"""

from __future__ import annotations

from datetime import timedelta

from company.models import Company, SupplierPart
from django.contrib.auth.models import Group, User
from django.core import mail
from InvenTree.unit_test import InvenTreeTestCase
from order.models import PurchaseOrder
from part.models import Part, PartCategory, PartStar
from part.tasks import notify_low_stock
from plugin import registry
from stock.models import StockItem, StockLocation

from inventree_notify_plus.inventree import events
from inventree_notify_plus.inventree.reminders import send_reminders
from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.models import Condition, Delivery

SLACK = "https://hooks.slack.com/services/T0/B0/secret"
LOW = "part.notify_low_stock"


class LowPartWithSupplier(InvenTreeTestCase):
    """'M5 washer': 2 in stock, minimum 10, starred by alice; a supplier sells it."""

    roles = ["part.view", "purchase_order.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.part = Part.objects.create(
            name="M5 washer",
            category=PartCategory.objects.create(name="Washers"),
            minimum_stock=10,
            purchaseable=True,
            component=True,
        )
        cls.store = StockLocation.objects.create(name="Store")
        cls.stock = StockItem.objects.create(part=cls.part, quantity=2, location=cls.store)
        cls.alice = User.objects.create_user("alice", "alice@example.com", "x")
        cls.alice.groups.add(Group.objects.get(name=cls.group.name))
        PartStar.objects.create(part=cls.part, user=cls.alice)
        cls.supplier = Company.objects.create(name="Acme washers", is_supplier=True)
        cls.supplier_part = SupplierPart.objects.create(
            supplier=cls.supplier, part=cls.part, SKU="ACME-M5W"
        )

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("NOTIFICATIONS_LOW_STOCK", True)
        self.plugin.set_setting("GROUP_INTERVAL", 0)

    def order(self, quantity: int) -> tuple[PurchaseOrder, object]:
        """A placed purchase order for ``quantity`` washers."""
        po = PurchaseOrder.objects.create(supplier=self.supplier, reference=f"PO-{quantity:04d}")
        line = po.add_line_item(self.supplier_part, quantity=quantity)
        po.place_order()
        return po, line

    def low_rows(self):
        return Delivery.objects.filter(category=LOW, notice_record__data__state="firing")

    def facts(self, row: Delivery) -> dict[str, str]:
        return {f["label"]: f["value"] for f in row.notice["facts"]}

    def episode_open(self) -> bool:
        return Condition.objects.filter(
            key=f"low_stock:part:{self.part.pk}", detail__ended=False
        ).exists()


class CoveredByOpenOrders(LowPartWithSupplier):
    """LOW_STOCK_COUNT_ON_ORDER with real purchase orders."""

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting("LOW_STOCK_COUNT_ON_ORDER", True)

    def test_covered_is_not_announced_and_the_log_says_why(self):
        self.order(8)  # 2 in stock + 8 on order = the minimum of 10
        self.assertEqual(self.part.on_order, 8)
        notify_low_stock(self.part)
        rows = self.low_rows()
        self.assertEqual(
            sorted(rows.values_list("destination", flat=True)),
            sorted(["slack:default", f"email:user:{self.alice.pk}"]),
        )
        self.assertEqual(set(rows.values_list("status", flat=True)), {"skipped"})
        self.assertEqual(
            set(rows.values_list("last_error", flat=True)), {"covered by open orders: 8 on order"}
        )
        self.assertFalse(self.episode_open())
        # Nor does InvenTree's own email announce it (placing the order may email others).
        self.assertFalse([m for m in mail.outbox if "stock" in m.subject.lower()])

    def test_partly_covered_is_announced_with_what_is_on_order(self):
        self.order(5)  # 2 + 5 < 10
        notify_low_stock(self.part)
        rows = self.low_rows()
        self.assertEqual(set(rows.values_list("status", flat=True)), {"pending"})
        self.assertEqual(rows.count(), 2)
        self.assertEqual(self.facts(rows.first())["On order"], "5")
        self.assertTrue(self.episode_open())

    def test_a_cancelled_order_covers_nothing(self):
        po, _ = self.order(8)
        po.cancel_order()
        self.assertEqual(self.part.on_order, 0)
        notify_low_stock(self.part)
        rows = self.low_rows()
        self.assertEqual(set(rows.values_list("status", flat=True)), {"pending"})
        self.assertNotIn("On order", self.facts(rows.first()))

    def test_receiving_that_leaves_the_part_low_announces_it(self):
        po, line = self.order(8)
        notify_low_stock(self.part)  # covered: skipped
        self.assertEqual(set(self.low_rows().values_list("status", flat=True)), {"skipped"})
        # Meanwhile the 2 in stock were used; the 8 arrive: 8 of 10, nothing more on order.
        StockItem.objects.filter(pk=self.stock.pk).update(quantity=0)
        po.receive_line_item(line, self.store, 8, self.user)
        self.assertEqual(self.part.on_order, 0)
        self.assertTrue(self.part.is_part_low_on_stock())
        # InvenTree does not repeat its low-stock notification within 24 hours ...
        notify_low_stock(self.part)
        self.assertFalse(self.low_rows().exclude(status="skipped").exists())
        # ... so the received event does (what InvenTree's worker hands the plugin).
        received = list(StockItem.objects.filter(part=self.part, quantity=8))
        self.assertTrue(events.wanted(events.RECEIVED))
        events.handle(
            self.plugin, events.RECEIVED, {"order_id": po.pk, "item_ids": [i.pk for i in received]}
        )
        announced = self.low_rows().filter(status="pending")
        self.assertEqual(
            sorted(announced.values_list("destination", flat=True)),
            sorted(["slack:default", f"email:user:{self.alice.pk}"]),
        )
        self.assertEqual(self.facts(announced.first())["Available"], "8")
        self.assertTrue(self.episode_open())
        # A second delivery of the same event announces nothing more.
        events.handle(self.plugin, events.RECEIVED, {"item_ids": [i.pk for i in received]})
        self.assertEqual(self.low_rows().filter(status="pending").count(), 2)

    def test_receiving_that_brings_it_back_announces_nothing(self):
        po, line = self.order(8)
        notify_low_stock(self.part)
        po.receive_line_item(line, self.store, 8, self.user)  # 10 of 10
        events.handle(
            self.plugin,
            events.RECEIVED,
            {
                "item_ids": list(
                    StockItem.objects.filter(part=self.part).values_list("pk", flat=True)
                )
            },
        )
        self.assertFalse(self.low_rows().exclude(status="skipped").exists())

    def test_off_by_default_open_orders_change_nothing(self):
        self.plugin.set_setting("LOW_STOCK_COUNT_ON_ORDER", False)
        self.order(8)
        notify_low_stock(self.part)
        rows = self.low_rows()
        self.assertEqual(set(rows.values_list("status", flat=True)), {"pending"})
        self.assertNotIn("On order", self.facts(rows.first()))


class Reminders(LowPartWithSupplier):
    """REMIND_AFTER: one reminder per open episode and interval."""

    def reminders(self):
        return Delivery.objects.filter(notice_record__data__state="reminder")

    def since(self):
        return Condition.objects.get(key=f"low_stock:part:{self.part.pk}").since

    def test_off_by_default(self):
        notify_low_stock(self.part)
        self.assertEqual(self.plugin.get_setting("REMIND_AFTER"), "")
        self.assertEqual(send_reminders(self.plugin, self.since() + timedelta(days=400)), 0)
        self.assertFalse(self.reminders().exists())

    def test_one_reminder_per_interval_to_the_same_destinations(self):
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting("REMIND_AFTER", "7d")
        notify_low_stock(self.part)
        since = self.since()
        self.assertEqual(send_reminders(self.plugin, since + timedelta(days=6, hours=23)), 0)
        first = since + timedelta(days=7, seconds=20)
        self.assertEqual(send_reminders(self.plugin, first), 1)
        rows = self.reminders()
        self.assertEqual(
            sorted(rows.values_list("destination", flat=True)),
            sorted(["slack:default", f"email:user:{self.alice.pk}"]),
        )
        row = rows.first()
        self.assertEqual(row.title, f"Still low: {self.part.full_name}")
        self.assertEqual(row.category, LOW)
        self.assertEqual(row.episode, f"low_stock:part:{self.part.pk}@{since.isoformat()}")
        self.assertTrue(
            row.notice["summary"].startswith(f"Still low since {since:%Y-%m-%d %H:%M} UTC, 7 days")
        )
        # The next sweep, a minute later: nothing more.
        self.assertEqual(send_reminders(self.plugin, first + timedelta(minutes=1)), 0)
        self.assertEqual(rows.count(), 2)
        # Another interval later: one more reminder.
        self.assertEqual(send_reminders(self.plugin, first + timedelta(days=7)), 1)
        self.assertEqual(rows.count(), 4)
        self.assertEqual(len(set(rows.values_list("notice_uid", flat=True))), 2)

    def test_a_reminder_arrives_by_email_as_still_low(self):
        self.plugin.set_setting("REMIND_AFTER", "12h")
        notify_low_stock(self.part)
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)
        self.assertEqual([m.subject for m in mail.outbox], ["[InvenTree] Low stock: M5 washer"])
        # Twelve hours later (the episode's start moved back: the outbox runs on real time).
        key = f"low_stock:part:{self.part.pk}"
        Condition.objects.filter(key=key).update(since=self.since() - timedelta(hours=12))
        self.assertEqual(send_reminders(self.plugin), 1)
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)
        self.assertEqual(len(mail.outbox), 2)
        self.assertEqual(mail.outbox[1].subject, "[InvenTree] Still low: M5 washer")
        self.assertEqual(mail.outbox[1].to, ["alice@example.com"])
        self.assertIn("Still low since", mail.outbox[1].body)
        self.assertIn("12 hours", mail.outbox[1].body)

    def test_a_recovered_or_covered_part_is_not_reminded(self):
        self.plugin.set_setting("REMIND_AFTER", "1d")
        notify_low_stock(self.part)
        later = self.since() + timedelta(days=2)
        self.plugin.set_setting("LOW_STOCK_COUNT_ON_ORDER", True)
        self.order(8)  # now covered: no reminder
        self.assertEqual(send_reminders(self.plugin, later), 0)
        StockItem.objects.create(part=self.part, quantity=20, location=self.store)
        self.plugin.set_setting("LOW_STOCK_COUNT_ON_ORDER", False)
        self.assertEqual(send_reminders(self.plugin, later), 0)  # back in stock
        self.assertFalse(self.reminders().exists())

    def test_the_setting_refuses_an_interval_without_unit(self):
        from django.core.exceptions import ValidationError

        with self.assertRaises(ValidationError):
            self.plugin.set_setting("REMIND_AFTER", "7")


class RemindersInThreads(LowPartWithSupplier):
    """On a channel that threads, a reminder is a reply under the episode's message."""

    DISCORD = "https://discord.com/api/webhooks/1/secret"

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("DISCORD_WEBHOOK_URL", self.DISCORD)
        self.plugin.set_setting("REMIND_AFTER", "7d")
        notify_low_stock(self.part)
        self.since = Condition.objects.get(key=f"low_stock:part:{self.part.pk}").since
        # The first notice reached Discord: the service's message id is on its row.
        Delivery.objects.filter(channel="discord").update(status="sent", external_id="111222333")

    def remind(self, follow_up) -> list[str]:
        """Send the reminder with ``follow_up`` in place; the channels of its new messages."""
        from unittest import mock

        from inventree_notify_plus.channels.discord import DiscordChannel

        with (
            mock.patch.object(DiscordChannel, "threads", True),
            mock.patch("inventree_notify_plus.outbox.updates.follow_up", follow_up),
        ):
            self.assertEqual(send_reminders(self.plugin, self.since + timedelta(days=7)), 1)
        rows = Delivery.objects.filter(notice_record__data__state="reminder")
        return sorted(rows.values_list("channel", flat=True))

    def test_the_reminder_replies_under_the_discord_post_and_emails_anew(self):
        calls = []

        def follow_up(notice, kind, now=None):
            calls.append((notice.episode, notice.state, kind))
            return 1

        self.assertEqual(self.remind(follow_up), ["email"])  # no new Discord post
        episode = f"low_stock:part:{self.part.pk}@{self.since.isoformat()}"
        self.assertEqual(calls, [(episode, "reminder", "reply")])

    def test_without_follow_ups_the_reminder_is_a_new_post(self):
        def follow_up(notice, kind, now=None):
            raise NotImplementedError

        self.assertEqual(self.remind(follow_up), ["discord", "email"])

    def test_a_channel_that_never_got_the_first_notice_gets_a_new_post(self):
        Delivery.objects.filter(channel="discord").update(status="failed", external_id="")
        calls = []
        self.assertEqual(self.remind(lambda *a, **k: calls.append(a) or 0), ["discord", "email"])
        self.assertEqual(calls, [])
