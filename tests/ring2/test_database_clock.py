"""Ring 2: what an app server queues is due on the database's clock, like everything the outbox
times (issue 16): a server whose own clock runs ahead does not hold its notices back."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from django.core import mail
from django.utils import timezone

from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.outbox.clock import database_now
from tests.ring2.test_outbox_timing import LowPartWithSubscriber


class QueuedOnTheDatabaseClock(LowPartWithSubscriber):
    """A low-stock notice taken in by an app server whose clock is ten minutes ahead."""

    part_name = "M3 nut"

    def test_a_server_ten_minutes_ahead_does_not_hold_the_email_back(self):
        real = timezone.now
        context = {"part": self.part, "link": "x", "template": {"html": "x", "subject": "x"}}
        with mock.patch("django.utils.timezone.now", lambda: real() + timedelta(minutes=10)):
            self.plugin.send_notification(self.part, "part.notify_low_stock", [self.alice], context)
        row = Delivery.objects.get(channel="email", destination=f"email:user:{self.alice.pk}")
        self.assertLess(abs((row.due_at - database_now()).total_seconds()), 5.0)
        # the next drain (on the database's clock, as every worker's) sends it at once
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)
        self.assertEqual([m.subject for m in mail.outbox], ["[InvenTree] Low stock: M3 nut"])
