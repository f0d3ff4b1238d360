"""One process of the PostgreSQL concurrency tests (``tests/test_outbox_postgres.py``).

Each process has its own database connection, as InvenTree's workers do; the test starts
several at once. ``python tests/support/pg_worker.py MODE JSON`` prints one JSON line with its
result.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from inventree_notify_plus.devtools.standalone import setup_django


def wait_until(start: float) -> None:
    """Start the contested step at the same moment in every process."""
    time.sleep(max(0.0, start - time.time()))


def reset(args: dict) -> dict:
    from inventree_notify_plus.models import (
        Condition,
        Delivery,
        DestinationState,
        Lease,
        NoticeRecord,
    )

    for model in (Delivery, NoticeRecord, DestinationState, Condition, Lease):
        model.objects.all().delete()
    return {}


def enqueue(args: dict) -> dict:
    from django.db import transaction

    from inventree_notify_plus.devtools.samples import low_stock_notice
    from inventree_notify_plus.outbox.store import enqueue
    from inventree_notify_plus.routing.plan import PlannedDelivery

    plans = [PlannedDelivery("slack", "slack:default", "slack")] * args.get("slack", 1) + [
        PlannedDelivery("email", f"email:user:{u}", f"user {u}", groupable=False)
        for u in range(args["users"])
    ]
    wait_until(args.get("start", 0))
    created = 0
    for n in range(args["notices"]):
        with transaction.atomic():
            created += enqueue(low_stock_notice(f"Part {n}", n), plans)
    return {"created": created}


def drain(args: dict) -> dict:
    from inventree_notify_plus.channels import EmailChannel, RenderContext, SlackChannel
    from inventree_notify_plus.channels.base import Destination, RateLimit
    from inventree_notify_plus.devtools.standalone import StaticDirectory
    from inventree_notify_plus.outbox.dispatcher import Dispatcher
    from inventree_notify_plus.outbox.retry import RetryPolicy

    directory = StaticDirectory()
    directory.add(Destination("slack", "slack:default", args["slack"], "slack"))
    for u in range(args["users"]):
        directory.add(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"user {u}"))
    ctx = RenderContext(instance_name="Workshop")
    slack = SlackChannel(ctx, timeout=5)
    slack.rate_limit = RateLimit(burst=1000, per_second=1000.0)
    dispatcher = Dispatcher(
        directory,
        {"slack": slack, "email": EmailChannel(ctx, timeout=5)},
        policy=RetryPolicy(
            base_seconds=0.05, cap_seconds=0.2, lease=timedelta(seconds=args.get("lease", 30))
        ),
        group_interval=timedelta(0),
        batch_size=5,
    )
    wait_until(args.get("start", 0))
    report = dispatcher.drain(budget_seconds=args.get("budget", 30))
    return {"messages": report.messages, "sent": report.sent}


def claim(args: dict) -> dict:
    """One Slack delivery claimed by a worker ``age`` seconds ago by the database's clock."""
    from datetime import timedelta

    from django.db.models.functions import Now

    from inventree_notify_plus.devtools.samples import low_stock_notice
    from inventree_notify_plus.models import Delivery
    from inventree_notify_plus.outbox.store import enqueue
    from inventree_notify_plus.routing.plan import PlannedDelivery

    enqueue(low_stock_notice("Part 1", 1), [PlannedDelivery("slack", "slack:default", "slack")])
    Delivery.objects.update(
        status="sending",
        claim_token="c" * 32,
        message_id="m" * 32,
        attempts=1,
        claimed_at=Now() - timedelta(seconds=args.get("age", 0)),
    )
    return {}


def skewed(args: dict) -> dict:
    """A worker whose own clock is ``skew`` seconds off: recover stale claims, take the lease of
    the waiting drain. Its dispatcher keeps the database's clock."""
    from datetime import timedelta

    from django.utils import timezone

    from inventree_notify_plus.devtools.standalone import StaticDirectory
    from inventree_notify_plus.models import Delivery
    from inventree_notify_plus.outbox.claims import WAITER, WAITER_HOLD, NamedLease
    from inventree_notify_plus.outbox.dispatcher import Dispatcher
    from inventree_notify_plus.outbox.retry import RetryPolicy

    real = timezone.now
    timezone.now = lambda: real() + timedelta(seconds=args["skew"])
    dispatcher = Dispatcher(
        StaticDirectory(), {}, policy=RetryPolicy(lease=timedelta(seconds=args.get("lease", 30)))
    )
    recovered = dispatcher.recover_stale()
    return {
        "recovered": recovered,
        "statuses": sorted(Delivery.objects.values_list("status", flat=True)),
        "waiter": NamedLease(WAITER).hold(WAITER_HOLD, dispatcher.clock()),
    }


def begin(args: dict) -> dict:
    from django.db import transaction

    from inventree_notify_plus.inventree import episodes

    wait_until(args["start"])
    with transaction.atomic():
        _, new = episodes.begin(args["key"])
        time.sleep(0.3)  # hold the transaction open, as intake does while it queues the notice
    return {"new": new}


def count(args: dict) -> dict:
    from inventree_notify_plus.models import Delivery, NoticeRecord

    return {"deliveries": Delivery.objects.count(), "notices": NoticeRecord.objects.count()}


def statuses(args: dict) -> dict:
    from inventree_notify_plus.models import Delivery

    found: dict[str, list[str]] = {}
    for destination, status in Delivery.objects.values_list("destination", "status"):
        found.setdefault(status, []).append(destination)
    return found


MODES = {
    "statuses": statuses,
    "count": count,
    "reset": reset,
    "enqueue": enqueue,
    "drain": drain,
    "begin": begin,
    "claim": claim,
    "skewed": skewed,
}


def main() -> int:
    mode, raw = sys.argv[1], sys.argv[2]
    args = json.loads(raw)
    setup_django("", smtp_port=args.get("smtp_port", 1), database_url=args["db"], migrate=False)
    if args.get("migrate"):
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    print(json.dumps(MODES[mode](args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
