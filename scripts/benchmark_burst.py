"""Burst benchmark: 1, 100 and 1000 low-stock notices through Notify Plus and a naive baseline.

Destinations: one Slack webhook stand-in enforcing Slack's limit (1 message/s, 429 beyond),
one Discord webhook stand-in enforcing 5 per 2 s and 30 per minute, and 50 email subscribers
(SMTP stand-in). Notify Plus runs with its real channel rate limits and a grouping interval;
the baseline posts one message per notice and destination at once: no outbox, no pacing.

    .venv/bin/python scripts/benchmark_burst.py

Ctrl-C stops it (exit status 130).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.devtools.arguments import (
    OneLineParser,
    non_negative_float,
    positive_int,
    run_main,
    whole_numbers,
)
from inventree_notify_plus.devtools.samples import low_stock_notice
from inventree_notify_plus.devtools.standalone import StaticDirectory, setup_django
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

SUBSCRIBERS = 50
INSTANCE = "Workshop"
KINDS = ("slack", "discord", "email")


def standins():
    return (
        WebhookStandIn("slack", rate_limit=(1, 1.0)),
        WebhookStandIn("discord", rate_limit=(5, 2.5), window_limit=(30, 60.0)),
        SmtpStandIn(),
    )


def standin_counts(slack, discord, smtp) -> tuple[dict, dict, dict]:
    """Messages accepted, requests received and 429s sent, per channel."""
    accepted = {
        "slack": len(slack.accepted),
        "discord": len(discord.accepted),
        "email": len(smtp.messages),
    }
    attempts = {"slack": slack.requests, "discord": discord.requests, "email": smtp.requests}
    limited = {"slack": slack.rate_limited, "discord": discord.rate_limited, "email": 0}
    return accepted, attempts, limited


def make_channels():
    from inventree_notify_plus.channels import (
        DiscordChannel,
        EmailChannel,
        RenderContext,
        SlackChannel,
    )

    ctx = RenderContext(instance_name=INSTANCE, site_url="http://inventree.local")
    return {
        "slack": SlackChannel(ctx, timeout=5),
        "discord": DiscordChannel(ctx, timeout=5),
        "email": EmailChannel(ctx, timeout=5),
    }


def make_directory(slack, discord) -> StaticDirectory:
    from inventree_notify_plus.channels.base import Destination

    directory = StaticDirectory()
    directory.add(Destination("slack", "slack:default", slack.url, "slack 'default'"))
    directory.add(Destination("discord", "discord:default", discord.url, "discord 'default'"))
    for u in range(SUBSCRIBERS):
        directory.add(
            Destination("email", f"email:user:{u}", f"sub{u}@example.com", f"subscriber {u}")
        )
    return directory


def plans():
    from inventree_notify_plus.routing.plan import PlannedDelivery

    return [
        PlannedDelivery("slack", "slack:default", "slack 'default'"),
        PlannedDelivery("discord", "discord:default", "discord 'default'"),
        *(
            # digest path (groupable, due now): one email per recipient per dispatch
            PlannedDelivery("email", f"email:user:{u}", f"subscriber {u}")
            for u in range(SUBSCRIBERS)
        ),
    ]


def run_notify_plus(burst: int, interval: float, tag: str) -> list[dict]:
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, Max
    from django.utils import timezone

    from inventree_notify_plus.models import Delivery, DestinationState
    from inventree_notify_plus.outbox.dispatcher import Dispatcher
    from inventree_notify_plus.outbox.store import enqueue

    Delivery.objects.all().delete()
    DestinationState.objects.all().delete()
    slack, discord, smtp = standins()
    with slack, discord, smtp:
        settings.EMAIL_PORT = smtp.port
        dispatcher = Dispatcher(
            make_directory(slack, discord),
            make_channels(),  # real rate limits
            group_interval=timedelta(seconds=interval),
        )
        planned = plans()
        notices = [low_stock_notice(f"{tag} part {i:05d}", i) for i in range(burst)]
        stage = {"enqueue": 0, "drain": 0}
        current = ["enqueue"]

        def count(execute, sql, params, many, context):
            stage[current[0]] += 1
            return execute(sql, params, many, context)

        started_at = timezone.now()
        t0 = time.monotonic()
        tracemalloc.start()
        with connection.execute_wrapper(count):
            # The first notice commits and the worker drains at once (intake's on_commit);
            # the rest of the burst arrives before the worker's next pass.
            enqueue(notices[0], planned)
            current[0] = "drain"
            dispatcher.run_once()
            current[0] = "enqueue"
            for notice in notices[1:]:
                enqueue(notice, planned)
            current[0] = "drain"
            while Delivery.objects.filter(status__in=["pending", "sending"]).exists():
                dispatcher.drain(budget_seconds=120)
                if time.monotonic() - t0 > 300:
                    break
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        total = time.monotonic() - t0
        accepted, attempts, limited = standin_counts(slack, discord, smtp)

    rows = []
    for kind in KINDS:
        mine = Delivery.objects.filter(channel=kind)
        sent = mine.filter(status="sent")
        last = sent.aggregate(m=Max("sent_at"))["m"]
        messages = sent.values("message_id").annotate(n=Count("id")).count()
        per_dest = SUBSCRIBERS if kind == "email" else 1
        rows.append(
            {
                "burst": burst,
                "path": "Notify Plus",
                "channel": kind,
                "messages": accepted[kind],
                "messages_in_db": messages,
                "attempts": attempts[kind],
                "429s": limited[kind],
                "seconds": (last - started_at).total_seconds() if last else float("nan"),
                "lost": burst * per_dest - sent.count(),
                "queries": (stage["enqueue"] + stage["drain"]) / burst,
                "enqueue_q": stage["enqueue"] / burst,
                "drain_q": stage["drain"] / max(1, sum(accepted.values())),
                "peak": peak / 2**20,
                "total": total,
            }
        )
    return rows


def run_baseline(burst: int, tag: str, email_workers: int) -> list[dict]:
    from django.conf import settings

    from inventree_notify_plus.channels.base import Outcome

    slack, discord, smtp = standins()
    with slack, discord, smtp:
        settings.EMAIL_PORT = smtp.port
        channels = make_channels()
        directory = make_directory(slack, discord)
        emails = [directory.resolve(f"email:user:{u}") for u in range(SUBSCRIBERS)]
        notices = [low_stock_notice(f"{tag} part {i:05d}", i) for i in range(burst)]
        lost = dict.fromkeys(KINDS, 0)
        seconds = dict.fromkeys(KINDS, 0.0)
        t0 = time.monotonic()
        with ThreadPoolExecutor(email_workers) as pool:
            for notice in notices:
                for kind in ("slack", "discord"):
                    result = channels[kind].send(directory.resolve(f"{kind}:default"), [notice])
                    lost[kind] += result.outcome != Outcome.SENT
                    seconds[kind] = time.monotonic() - t0
                results = pool.map(lambda dest, n=notice: channels["email"].send(dest, [n]), emails)
                lost["email"] += sum(r.outcome != Outcome.SENT for r in results)
                seconds["email"] = time.monotonic() - t0
        total = time.monotonic() - t0
        accepted, attempts, limited = standin_counts(slack, discord, smtp)
    return [
        {
            "burst": burst,
            "path": "baseline",
            "channel": kind,
            "messages": accepted[kind],
            "messages_in_db": None,
            "attempts": attempts[kind],
            "429s": limited[kind],
            "seconds": seconds[kind],
            "lost": lost[kind],
            "queries": None,
            "enqueue_q": None,
            "drain_q": None,
            "peak": None,
            "total": total,
        }
        for kind in KINDS
    ]


def main() -> int:
    parser = OneLineParser(description=__doc__)
    parser.add_argument(
        "--bursts",
        type=whole_numbers(1),
        default=[1, 100, 1000],
        metavar="N,N",
        help="burst sizes, comma-separated, each at least 1 (default: 1,100,1000)",
    )
    parser.add_argument(
        "--interval",
        type=non_negative_float,
        default=10.0,
        help="grouping interval, seconds, 0 or more (default 10 to keep the run short; the "
        "product's is 60)",
    )
    parser.add_argument(
        "--email-workers",
        type=positive_int,
        default=1,
        help="threads the baseline sends email with, at least 1 (1: one after another)",
    )
    args = parser.parse_args()
    bursts = args.bursts

    started = time.monotonic()
    tmp = tempfile.TemporaryDirectory(prefix="notify-plus-bench-")
    setup_django(os.path.join(tmp.name, "outbox.sqlite3"), smtp_port=1)

    rows: list[dict] = []
    for burst in bursts:
        rows += run_notify_plus(burst, args.interval, f"np{burst}")
        rows += run_baseline(burst, f"bl{burst}", args.email_workers)
        print(f"burst {burst} done at {time.monotonic() - started:.0f} s", file=sys.stderr)

    print(f"## Burst benchmark (grouping interval {args.interval:g} s; product default 60 s)")
    print()
    print(
        "Notify Plus: outbox with the channels' real rate limits (Slack 1/s, Discord 5 then "
        "0.4/s). The first notice of a burst is sent at once; the rest arrive before the "
        "worker's next pass and are grouped: Slack/Discord by the grouping interval, email "
        f"through the digest path (groupable, due now: one email per subscriber per "
        f"dispatch, {SUBSCRIBERS} subscribers). Baseline: one message per notice and "
        "destination, posted immediately through the same channel.send(), no outbox, no "
        "pacing, no retry. Stand-ins: Slack 429 beyond 1/s; Discord 429 beyond 5 per 2 s or "
        "30 per minute; SMTP accepts everything. 'seconds' = until the channel's last "
        "delivery (Notify Plus) or last send returned (baseline). Queries and peak memory "
        "(tracemalloc, whole process incl. stand-ins) cover enqueue + drain of the burst."
    )
    print()
    print(
        "| burst | path | channel | messages accepted | requests | 429s | seconds | "
        "notices lost | DB queries/notice | enqueue queries/notice | drain queries/message | "
        "peak MiB |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        q = f"{r['queries']:.1f}" if r["queries"] is not None else "-"
        p = f"{r['peak']:.1f}" if r["peak"] is not None else "-"
        eq = f"{r['enqueue_q']:.1f}" if r["enqueue_q"] is not None else "-"
        dq = f"{r['drain_q']:.2f}" if r["drain_q"] is not None else "-"
        print(
            f"| {r['burst']} | {r['path']} | {r['channel']} | {r['messages']} | "
            f"{r['attempts']} | {r['429s']} | {r['seconds']:.1f} | {r['lost']} | {q} | "
            f"{eq} | {dq} | {p} |"
        )
    print()
    print(
        "Queries per stage: routing is a pure function (no database); enqueue per notice; "
        "drain per message accepted by the stand-ins (all channels of the burst)."
    )
    print()
    print(f"Command: `.venv/bin/python scripts/benchmark_burst.py {' '.join(sys.argv[1:])}`")
    print()
    print("## Baseline vs Notify Plus")
    print()
    print(
        "| burst | channel | baseline messages sent (attempted) | baseline accepted | "
        "Notify Plus messages | ratio attempted / Notify Plus | baseline notices lost | "
        "Notify Plus notices lost |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for burst in bursts:
        for kind in KINDS:
            np_row = next(
                r
                for r in rows
                if (r["burst"], r["path"], r["channel"]) == (burst, "Notify Plus", kind)
            )
            bl_row = next(
                r
                for r in rows
                if (r["burst"], r["path"], r["channel"]) == (burst, "baseline", kind)
            )
            attempted = burst * (SUBSCRIBERS if kind == "email" else 1)
            ratio = attempted / np_row["messages"] if np_row["messages"] else float("inf")
            print(
                f"| {burst} | {kind} | {attempted} | {bl_row['messages']} | "
                f"{np_row['messages']} | {ratio:.1f} | {bl_row['lost']} | {np_row['lost']} |"
            )
    print()
    print(f"Total run time: {time.monotonic() - started:.0f} s")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
