"""Scale benchmark: queries per stage, big subscriber sets, and the outbox's queries on a big table.

Three parts, each printed with the command that produced it:

1. queries per stage (routing, enqueue, drain) for one notice to 50 subscribers, a Slack and
   a Discord destination, and per message sent (stand-ins on loopback);
2. a category starred by N users (default 1,000 and 10,000): routing + enqueue of one notice,
   seconds and peak memory (tracemalloc), then the drain, with SMTP connections counted;
3. PostgreSQL only: 1,000,000 delivery rows (most sent), then EXPLAIN ANALYZE of the drain's
   claim queries and the delivery log's first page (unfiltered and per filter).

    .venv/bin/python scripts/benchmark_scale.py --database postgresql://u:p@127.0.0.1:5432/db

Without --database it runs parts 1 and 2 on a temporary SQLite file and skips part 3.
The database is emptied first: give it one of its own. Ctrl-C stops it (exit status 130).
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.devtools.arguments import (
    OneLineParser,
    names_from,
    positive_int,
    reachable_postgres,
    run_main,
    whole_numbers,
)
from inventree_notify_plus.devtools.samples import low_stock_notice
from inventree_notify_plus.devtools.standalone import StaticDirectory, setup_django
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn


class Queries:
    """Counts the SQL statements run inside ``with``."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> Queries:
        from django.db import connection

        self._ctx = connection.execute_wrapper(self)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)


def reset() -> None:
    from inventree_notify_plus.models import (
        Condition,
        Delivery,
        DestinationState,
        Lease,
        NoticeRecord,
    )

    for model in (Delivery, NoticeRecord, DestinationState, Condition, Lease):
        model.objects.all().delete()


def config(slack_url: str, discord_url: str):
    from inventree_notify_plus.routing.config import RoutingConfig, WebhookDestination

    return RoutingConfig(
        destinations=(
            WebhookDestination("slack", "default", slack_url),
            WebhookDestination("discord", "default", discord_url),
        ),
        default_to=("slack:default", "discord:default"),
    )


def people(n: int):
    from inventree_notify_plus.routing.config import Recipient

    return [Recipient(user_id=u, name=f"User {u}", email=f"u{u}@example.com") for u in range(n)]


def directory(slack, discord, users: int) -> StaticDirectory:
    from inventree_notify_plus.channels.base import Destination

    found = StaticDirectory()
    found.add(Destination("slack", "slack:default", slack.url, "slack"))
    found.add(Destination("discord", "discord:default", discord.url, "discord"))
    for u in range(users):
        found.add(Destination("email", f"email:user:{u}", f"u{u}@example.com", f"user {u}"))
    return found


def dispatcher(found: StaticDirectory):
    from inventree_notify_plus.channels import (
        DiscordChannel,
        EmailChannel,
        RenderContext,
        SlackChannel,
    )
    from inventree_notify_plus.outbox.dispatcher import Dispatcher

    ctx = RenderContext(instance_name="Workshop")
    return Dispatcher(
        found,
        {"slack": SlackChannel(ctx), "discord": DiscordChannel(ctx), "email": EmailChannel(ctx)},
        group_interval=timedelta(0),
    )


def stages(notices: int, users: int) -> None:
    """Part 1: queries per stage."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from inventree_notify_plus.outbox.store import enqueue
    from inventree_notify_plus.routing.plan import plan

    reset()
    with (
        WebhookStandIn("slack") as slack,
        WebhookStandIn("discord") as discord,
        SmtpStandIn() as smtp,
    ):
        settings.EMAIL_PORT = smtp.port
        cfg, recipients = config(slack.url, discord.url), people(users)
        routed = Queries()
        queued = Queries()
        rows = 0
        for n in range(notices):
            notice = low_stock_notice(f"Stage part {n}", n)
            with routed:
                planned = plan(notice, recipients, cfg, timezone.now())
            with queued, transaction.atomic():
                rows += enqueue(notice, planned)
        drained = Queries()
        with drained:
            report = dispatcher(directory(slack, discord, users)).drain(budget_seconds=120)
        messages = len(slack.accepted) + len(discord.accepted) + len(smtp.messages)
    print(f"### Queries per stage: {notices} notice(s), {users} subscribers + Slack + Discord")
    print()
    print("| stage | queries | per notice | per message sent |")
    print("|---|---:|---:|---:|")
    for name, q in (("routing", routed), ("enqueue", queued), ("drain", drained)):
        print(f"| {name} | {q.n} | {q.n / notices:.1f} | {q.n / max(1, messages):.2f} |")
    print()
    print(
        f"{rows} rows queued, {messages} messages sent ({report.sent} deliveries), "
        f"SMTP connections: {len(smtp.peers)}"
    )
    print()


def subscribers(counts: list[int], drain: bool = True) -> None:
    """Part 2: one notice to a category starred by N users."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from inventree_notify_plus.outbox.store import enqueue
    from inventree_notify_plus.routing.plan import plan

    print("### One notice, N subscribers: routing + enqueue, then the drain (of both notices)")
    print()
    print(
        "| subscribers | queued in s | queries | peak MiB (enqueue) | drain s | mails | "
        "SMTP connections | drain queries per mail |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        reset()
        with (
            WebhookStandIn("slack") as slack,
            WebhookStandIn("discord") as discord,
            SmtpStandIn() as smtp,
        ):
            settings.EMAIL_PORT = smtp.port
            cfg, recipients = config(slack.url, discord.url), people(n)
            # Timed without tracemalloc (it slows Python down); memory measured on a twin notice.
            q = Queries()
            notice = low_stock_notice(f"Big category part {n}", n)
            t0 = time.perf_counter()
            with q, transaction.atomic():
                enqueue(notice, plan(notice, recipients, cfg, timezone.now()))
            queued = time.perf_counter() - t0
            twin = low_stock_notice(f"Big category twin {n}", n)
            tracemalloc.start()
            with transaction.atomic():
                enqueue(twin, plan(twin, recipients, cfg, timezone.now()))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            drained, mails, dq = float("nan"), 0, Queries()
            if drain:
                d = dispatcher(directory(slack, discord, n))
                t0 = time.perf_counter()
                with dq:
                    d.drain(budget_seconds=600)
                drained = time.perf_counter() - t0
                mails = len(smtp.messages)
        print(
            f"| {n} | {queued:.2f} | {q.n} | {peak / 2**20:.1f} | {drained:.1f} | {mails} | "
            f"{len(smtp.peers)} | {dq.n / max(1, mails):.2f} |"
        )
    print()


FILL = """
INSERT INTO inventree_notify_plus_noticerecord (uid, data, object_ref, created_at)
SELECT md5('n' || i), jsonb_build_object('title', 'Low stock: part ' || i), 'part.part:' || i,
       now() - make_interval(secs => {rows} - i * 100)
FROM generate_series(0, ({rows} + 99) / 100 - 1) AS i;

INSERT INTO inventree_notify_plus_delivery (
    key, notice_uid, notice_record_id, category, title, channel, destination,
    destination_label, mentions, groupable, status, attempts, due_at, first_due_at,
    claim_token, claimed_at, message_id, last_error, created_at, updated_at, sent_at)
SELECT md5('d' || i), md5('n' || (i / 100)), r.id + i / 100, 'part.notify_low_stock',
       'Low stock: part ' || (i / 100), d.channel, d.destination, d.destination, '[]', true,
       CASE WHEN i % 1000 = 1 THEN 'failed' WHEN i % 5000 = 2 THEN 'unknown'
            WHEN i % 1000 = 3 THEN 'skipped' ELSE 'sent' END,
       1, t.at, t.at, '', NULL, '', '', t.at, t.at, t.at
FROM generate_series(0, {rows} - 1) AS i
CROSS JOIN LATERAL (SELECT now() - make_interval(secs => {rows} - i) AS at) AS t
CROSS JOIN LATERAL (
    SELECT CASE i % 100 WHEN 0 THEN 'slack' WHEN 1 THEN 'discord' ELSE 'email' END AS channel,
           CASE i % 100 WHEN 0 THEN 'slack:default' WHEN 1 THEN 'discord:default'
                ELSE 'email:user:' || (i % 5000) END AS destination) AS d
CROSS JOIN (SELECT min(id) AS id FROM inventree_notify_plus_noticerecord) AS r;

UPDATE inventree_notify_plus_delivery SET status = 'pending', sent_at = NULL,
       due_at = now() + make_interval(secs => (id % 600)::int - 300)
WHERE id % 1000 = 7;

ANALYZE inventree_notify_plus_delivery;
ANALYZE inventree_notify_plus_noticerecord;
"""


def big_table(rows: int, repeats: int) -> None:
    """Part 3: the drain's claims and the log's first page on a big table (PostgreSQL)."""
    from django.db import connection, transaction
    from django.db.models import Count
    from django.utils import timezone

    from inventree_notify_plus.models import Delivery

    reset()
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL.format(rows=rows))
    filled = time.perf_counter() - t0
    by_status = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("id")))
    print(f"### {rows:,} delivery rows on PostgreSQL (filled in {filled:.0f} s): {by_status}")
    print()
    now = timezone.now()
    log = Delivery.objects.order_by("-created_at", "-id")  # as the delivery log API reads it
    queries = {
        "claim one destination (webhook)": Delivery.objects.select_for_update(
            skip_locked=True, of=("self",)
        )
        .select_related("notice_record")
        .filter(destination="slack:default", status=Delivery.Status.PENDING, due_at__lte=now)
        .order_by("due_at", "id")[:1000],
        "email batch: its recipients": Delivery.objects.filter(
            channel="email", status=Delivery.Status.PENDING, due_at__lte=now
        )
        .order_by("due_at", "id")
        .values_list("destination", flat=True)[:200],
        # as Dispatcher.dispatch_batch claims: 50 recipients' rows, notices loaded apart
        "claim an email batch": Delivery.objects.select_for_update(skip_locked=True)
        .filter(
            channel="email",
            status=Delivery.Status.PENDING,
            due_at__lte=now,
            destination__in=[f"email:user:{u}" for u in range(50)],
        )
        .order_by("destination", "due_at", "id")[:5000],
        "destinations with due work": Delivery.objects.filter(
            status=Delivery.Status.PENDING, due_at__lte=now
        )
        .values_list("channel", "destination")
        .distinct(),
        "next due time": Delivery.objects.filter(status=Delivery.Status.PENDING)
        .order_by("due_at")
        .values("due_at")[:1],
        "log: first page (100)": log[:100],
        "log: status=failed": log.filter(status="failed")[:100],
        "log: channel=slack": log.filter(channel="slack")[:100],
        "log: destination=email:user:42": log.filter(destination="email:user:42")[:100],
        "counts, last 24 h": Delivery.objects.filter(created_at__gte=now - timedelta(hours=24))
        .order_by()
        .values("status")
        .annotate(n=Count("id")),
    }
    print(f"| query | execution ms (median of {repeats}) | plan |")
    print("|---|---:|---|")
    plans = {}
    for name, qs in queries.items():
        times = []
        for _ in range(repeats):
            with transaction.atomic():
                plan = qs.explain(analyze=True)
                transaction.set_rollback(True)
            line = next(x for x in plan.splitlines() if x.startswith("Execution Time"))
            times.append(float(line.split(":")[1].split()[0]))
        plans[name] = plan
        first = plan.splitlines()[0].strip()
        node = next(
            (x.strip() for x in plan.splitlines() if "Index" in x or "Seq Scan" in x), first
        )
        print(f"| {name} | {statistics.median(times):.3f} | `{node.split('  (')[0]}` |")
    print()
    for name, plan in plans.items():
        print(f"EXPLAIN ANALYZE — {name}:")
        print("```")
        print(plan)
        print("```")
    print()


PARTS = ("stages", "subscribers", "table")


def main() -> int:
    parser = OneLineParser(description=__doc__)
    parser.add_argument(
        "--database",
        type=reachable_postgres,
        metavar="URL",
        help="PostgreSQL URL, checked by connecting before anything runs (default: SQLite)",
    )
    parser.add_argument(
        "--subscribers",
        type=whole_numbers(1),
        default=[1000, 10000],
        metavar="N,N",
        help="subscriber counts for part 2, comma-separated (default: 1000,10000)",
    )
    parser.add_argument(
        "--rows",
        type=positive_int,
        default=1_000_000,
        help="rows for the big table, at least 1 (default: 1000000)",
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=5,
        help="runs of each EXPLAIN ANALYZE, at least 1 (default: 5)",
    )
    parser.add_argument(
        "--only",
        type=names_from(*PARTS),
        default=list(PARTS),
        metavar="PARTS",
        help=f"which parts to run, comma-separated: {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument(
        "--no-drain", action="store_true", help="part 2 without draining (enqueue figures only)"
    )
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="notify-plus-scale-")
    setup_django(os.path.join(tmp.name, "outbox.sqlite3"), 1, database_url=args.database or "")
    from django.db import connection

    shown = [a if "://" not in a else "postgresql://…" for a in sys.argv[1:]]
    print(f"## Scale benchmark on {connection.vendor}")
    print()
    print(f"Command: `.venv/bin/python scripts/benchmark_scale.py {shlex.join(shown)}`")
    print()
    parts = set(args.only)
    if "stages" in parts:
        stages(1, 50)
        stages(100, 50)
    if "subscribers" in parts:
        subscribers(args.subscribers, drain=not args.no_drain)
    if "table" in parts and connection.vendor == "postgresql":
        big_table(args.rows, args.repeats)
    elif "table" in parts:
        print("(part 3 needs PostgreSQL: --database postgresql://…)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
