"""Claims and their leases (issue 15, point 7): a slow mail server keeps its claim; the clock
is the database's.

Clock skew between app servers needs a database server with a clock of its own: that is tested
on PostgreSQL (``test_outbox_postgres.py``). Here: the heartbeat, and the clock's mechanics.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from inventree_notify_plus.channels import EmailChannel, RenderContext
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.outbox.clock import DatabaseClock, database_now
from inventree_notify_plus.outbox.dispatcher import Dispatcher
from inventree_notify_plus.outbox.retry import RetryPolicy
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.plan import PlannedDelivery

from .conftest import directory as make_directory
from .conftest import low_stock

pytestmark = pytest.mark.django_db(transaction=True)

CONTEXT = RenderContext(instance_name="Workshop")


def test_a_mail_server_slower_than_the_lease_does_not_cost_the_claim(smtp):
    """The mail server takes 5 s to accept one message, the lease is 2 s: the claim is renewed
    while it talks, so a second worker looking meanwhile neither marks it 'unknown' nor sends it;
    the message ends 'sent' and arrives once."""
    smtp.delay = 5.0
    policy = RetryPolicy(lease=timedelta(seconds=2))
    people = range(2)
    directory = make_directory(
        *(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"u{u}") for u in people)
    )
    enqueue(low_stock(), [PlannedDelivery("email", f"email:user:{u}", f"u{u}") for u in people])

    def worker() -> Dispatcher:
        return Dispatcher(directory, {"email": EmailChannel(CONTEXT, timeout=30)}, policy=policy)

    def send_slowly() -> None:
        try:
            worker().drain(budget_seconds=30, wait=False)
        finally:
            connection.close()

    sender = threading.Thread(target=send_slowly)
    sender.start()
    waited = time.monotonic() + 20
    while smtp.requests < 1 and time.monotonic() < waited:  # the first mail is on the wire
        time.sleep(0.01)
    time.sleep(3.0)  # past the lease: without renewal the claim would have run out
    other = worker()
    other.recover_stale()
    other.drain(budget_seconds=0.5, wait=False)
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["sending", "sending"]
    sender.join(timeout=30)
    assert not sender.is_alive()
    rows = Delivery.objects.values_list("destination", "status", "attempts")
    assert sorted(rows) == [("email:user:0", "sent", 1), ("email:user:1", "sent", 1)]
    assert sorted(r[0] for r, _ in smtp.messages) == ["u0@example.com", "u1@example.com"]


def test_the_database_clock_is_read_once_per_resync_and_runs_on_between():
    """One query per resync period, not per timestamp; in between, a monotonic timer."""
    ticks = [1000.0]
    readings: list[float] = []
    database = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def source() -> datetime:
        readings.append(ticks[0])
        return database + timedelta(seconds=ticks[0] - 1000.0)

    clock = DatabaseClock(resync=10.0, source=source, timer=lambda: ticks[0])
    assert clock() == database
    ticks[0] += 4.5
    assert clock() == database + timedelta(seconds=4.5)
    assert readings == [1000.0]
    ticks[0] += 6.0
    assert clock() == database + timedelta(seconds=10.5)
    assert readings == [1000.0, 1010.5]


def test_on_sqlite_the_database_clock_is_this_hosts():
    """SQLite is a file on this host: its clock is this host's, and costs no query."""
    before = timezone.now()
    assert before <= database_now() <= timezone.now()
    assert before <= DatabaseClock()() <= timezone.now()
