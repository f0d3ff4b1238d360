"""Ring 2: a notice's life on InvenTree's side (issue 17, parts 1 to 4, InvenTree's half).

- a low part's email, then (recovery notices on) its recovery email threaded under it, through
  InvenTree's own mail backend (the test runner's ``mail.outbox``);
- the end of every episode resolves its notice: ``follow_up(resolution, "update")`` is called
  with a resolved notice of the same episode, whatever ``NOTIFICATIONS_RECOVERY`` says;
- a build order's shortfall is an episode: it begins with ``build.stock_required``, is not
  announced again while open, and ends when the stock is there, or the build is completed or
  cancelled;
- InvenTree's bell: its messages about the resolved notice are marked read, others are not.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

from build.models import Build
from build.status_codes import BuildStatus
from build.tasks import check_build_stock
from common.models import NotificationMessage
from django.core import mail
from part.models import BomItem, Part, PartStar
from stock.models import StockItem

from inventree_notify_plus.inventree import events
from inventree_notify_plus.inventree.recovery import check_recovery
from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.models import Condition, Delivery
from inventree_notify_plus.outbox.clock import database_now

from .test_outbox_timing import LowPartWithSubscriber

FOLLOW_UP = "inventree_notify_plus.outbox.updates.follow_up"


class LowStockLife(LowPartWithSubscriber):
    """A low part's episode: announced, then resolved by email thread, follow-up and bell."""

    roles = ["part.view", "build.view"]
    part_name = "M5 washer"

    def low(self) -> None:
        """What InvenTree does when the part drops below its minimum (bell message included)."""
        from part.tasks import notify_low_stock

        notify_low_stock(self.part)

    def drain(self, later: bool = False) -> None:
        dispatcher = build_dispatcher(self.plugin)
        if later:  # past the grouping interval (alice was emailed within the minute)
            dispatcher.clock = lambda: database_now() + timedelta(seconds=61)
        dispatcher.drain(budget_seconds=5, wait=False)

    def test_recovery_email_replies_to_the_low_stock_email(self):
        self.plugin.set_setting("NOTIFICATIONS_RECOVERY", True)
        self.low()
        self.drain()
        self.assertEqual([m.subject for m in mail.outbox], ["[InvenTree] Low stock: M5 washer"])
        first = mail.outbox[0].message()["Message-ID"]
        self.assertTrue(first.startswith("<notify-plus.") and first.endswith(">"))
        row = Delivery.objects.get(channel="email", category="part.notify_low_stock")
        self.assertEqual(row.external_id, first)

        StockItem.objects.create(part=self.part, quantity=50)
        with mock.patch(FOLLOW_UP, return_value=0) as follow_up:
            check_recovery(self.plugin)
        self.drain(later=True)

        self.assertEqual(len(mail.outbox), 2)
        recovery = mail.outbox[1].message()
        self.assertEqual(recovery["Subject"], "[InvenTree] Stock recovered: M5 washer")
        self.assertEqual(recovery["In-Reply-To"], first)
        self.assertEqual(recovery["References"], first)
        self.assertNotEqual(recovery["Message-ID"], first)
        follow_up.assert_called_once()
        resolution, kind = follow_up.call_args.args[:2]
        self.assertEqual(kind, "update")
        self.assertEqual(resolution.state, "resolved")
        self.assertEqual(resolution.episode, row.episode)
        self.assertTrue(row.episode.startswith(f"low_stock:part:{self.part.pk}@"))
        self.assertIn(("Available", "50"), [(f.label, f.value) for f in resolution.facts])

    def test_without_recovery_notices_the_resolution_still_follows_up_and_reads_the_bell(self):
        self.plugin.set_setting("NOTIFICATIONS_RECOVERY", False)
        other = Part.objects.create(name="Other", category=self.part.category, minimum_stock=5)
        PartStar.objects.create(part=other, user=self.alice)
        self.low()
        from part.tasks import notify_low_stock

        notify_low_stock(other)
        bell = NotificationMessage.objects.filter(user=self.alice, read=False)
        self.assertEqual(bell.count(), 2)

        StockItem.objects.create(part=self.part, quantity=50)
        with mock.patch(FOLLOW_UP, return_value=0) as follow_up:
            check_recovery(self.plugin)

        follow_up.assert_called_once()
        self.assertEqual(follow_up.call_args.args[0].state, "resolved")
        self.assertFalse(Delivery.objects.filter(category="notify_plus.low_stock_recovered"))
        mine = NotificationMessage.objects.get(user=self.alice, target_object_id=str(self.part.pk))
        self.assertTrue(mine.read)  # resolved: out of the bell's unread count
        self.assertEqual(list(bell.values_list("target_object_id", flat=True)), [str(other.pk)])


class BuildShortfallLife(LowPartWithSubscriber):
    """A build order short of a part: one episode, from stock_required to its end."""

    roles = ["part.view", "build.view"]
    part_name = "M6 nut"

    def setUp(self):
        super().setUp()
        self.part = Part.objects.create(
            name="M6 bolt", category=self.part.category, component=True
        )  # no minimum: only the build is short of it
        self.assembly = Part.objects.create(
            name="Bracket", category=self.part.category, assembly=True
        )
        # bulk_create: BomItem.save's recursion check reads a part tree index InvenTree fills in
        # later; the two parts are unrelated.
        BomItem.objects.bulk_create(
            [BomItem(part=self.assembly, sub_part=self.part, quantity=Decimal(4))]
        )
        PartStar.objects.create(part=self.assembly, user=self.alice)
        self.build = Build.objects.create(
            part=self.assembly, quantity=5, reference="BO-0077", title="Brackets"
        )
        check_build_stock(self.build)  # InvenTree's own check: 20 bolts required, none there
        self.key = f"build_shortfall:build:{self.build.pk}"

    def rows(self):
        return Delivery.objects.filter(category="build.stock_required", kind="notice")

    def end_with(self, event: str) -> mock.MagicMock:
        with mock.patch(FOLLOW_UP, return_value=0) as follow_up:
            events.handle(self.plugin, event, {"id": self.build.pk})
        return follow_up

    def assert_resolved(self, follow_up: mock.MagicMock, title: str) -> None:
        episode = self.rows().first().episode
        self.assertTrue(episode.startswith(f"{self.key}@"))
        follow_up.assert_called_once()
        resolution, kind = follow_up.call_args.args[:2]
        self.assertEqual(
            (kind, resolution.state, resolution.episode), ("update", "resolved", episode)
        )
        self.assertEqual(resolution.title, title)
        self.assertTrue(Condition.objects.get(key=self.key).detail.get("ended"))
        bell = NotificationMessage.objects.get(
            user=self.alice, category="build.stock_required", target_object_id=str(self.build.pk)
        )
        self.assertTrue(bell.read)

    def test_the_episode_begins_once_and_a_repeat_is_not_announced(self):
        self.assertIn(
            f"email:user:{self.alice.pk}", self.rows().values_list("destination", flat=True)
        )
        condition = Condition.objects.get(key=self.key)
        self.assertFalse(condition.detail.get("ended"))
        self.assertEqual(condition.detail["parts"], [self.part.pk])
        before = self.rows().count()
        # InvenTree checks again when the build is issued (its 24 h memory aside)
        context = {"build": self.build, "part": self.assembly, "lines": [{"part": self.part}]}
        self.plugin.send_notification(self.build, "build.stock_required", [self.alice], context)
        self.assertEqual(self.rows().count(), before)

    def test_completion_ends_it(self):
        Build.objects.filter(pk=self.build.pk).update(status=BuildStatus.COMPLETE.value)
        follow_up = self.end_with("build.completed")
        self.assert_resolved(follow_up, "Build order BO-0077: completed")

    def test_cancellation_ends_it(self):
        Build.objects.filter(pk=self.build.pk).update(status=BuildStatus.CANCELLED.value)
        follow_up = self.end_with("build.cancelled")
        self.assert_resolved(follow_up, "Build order BO-0077: cancelled")

    def test_stock_arriving_covers_it_and_too_little_does_not(self):
        few = StockItem.objects.create(part=self.part, quantity=5)
        with mock.patch(FOLLOW_UP, return_value=0) as follow_up:
            events.handle(self.plugin, "stock_stockitem.created", {"id": few.pk})
        follow_up.assert_not_called()
        self.assertFalse(Condition.objects.get(key=self.key).detail.get("ended"))
        enough = StockItem.objects.create(part=self.part, quantity=15)
        with mock.patch(FOLLOW_UP, return_value=0) as follow_up:
            events.handle(self.plugin, "stock_stockitem.created", {"id": enough.pk})
        self.assert_resolved(follow_up, "Build order BO-0077: stock covered")

    def test_the_sweep_sees_the_end_without_events(self):
        Build.objects.filter(pk=self.build.pk).update(status=BuildStatus.COMPLETE.value)
        from inventree_notify_plus.inventree.build_shortfall import check

        with mock.patch(FOLLOW_UP, return_value=0) as follow_up:
            check(self.plugin)  # what the minutely sweep runs
        self.assert_resolved(follow_up, "Build order BO-0077: completed")
