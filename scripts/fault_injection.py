"""Fault injection: enqueue N low-stock notices, fail a fraction of sends, SIGKILL the worker.

Every notice goes to one email recipient (rotating among 20), one Slack and one Discord webhook
(loopback stand-ins living in this process). A dispatcher runs in a child process against the
same SQLite file; it is killed with SIGKILL part-way through, and a fresh dispatcher recovers
the rows the dead one left 'sending' and drains the rest. What arrived is counted from the
stand-ins by parsing notice titles out of the payloads, not from the outbox's own records.

    .venv/bin/python scripts/fault_injection.py --notices 1000 --fail 0.3

Ctrl-C stops it and its worker (exit status 130).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.devtools.arguments import (
    OneLineParser,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    run_main,
)
from inventree_notify_plus.devtools.received import discord_titles, email_titles, slack_titles
from inventree_notify_plus.devtools.samples import low_stock_notice
from inventree_notify_plus.devtools.standalone import StaticDirectory, setup_django
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

EMAIL_RECIPIENTS = 20
INSTANCE = "Workshop"


def address(user: int) -> str:
    return f"user{user}@example.com"


# -- the worker (child process) ------------------------------------------------------------


def worker(
    db_path: str,
    smtp_port: int,
    slack_url: str,
    discord_url: str,
    lease_seconds: float | None,
    budget_seconds: float,
    rows_per_message: int,
) -> None:
    """Drain the outbox until nothing is pending or sending, or the budget is spent."""
    setup_django(db_path, smtp_port)
    from inventree_notify_plus.channels import (
        DiscordChannel,
        EmailChannel,
        RenderContext,
        SlackChannel,
    )
    from inventree_notify_plus.channels.base import Destination, RateLimit
    from inventree_notify_plus.models import Delivery
    from inventree_notify_plus.outbox.dispatcher import Dispatcher
    from inventree_notify_plus.outbox.retry import RetryPolicy

    ctx = RenderContext(instance_name=INSTANCE, site_url="http://inventree.local")
    channels = {
        "slack": SlackChannel(ctx, timeout=5),
        "discord": DiscordChannel(ctx, timeout=5),
        "email": EmailChannel(ctx, timeout=5),
    }
    for kind in ("slack", "discord"):  # this run is about faults, not about pacing
        channels[kind].rate_limit = RateLimit(burst=1000, per_second=1000.0)
    directory = StaticDirectory()
    directory.add(Destination("slack", "slack:default", slack_url, "slack 'default'"))
    directory.add(Destination("discord", "discord:default", discord_url, "discord 'default'"))
    for u in range(EMAIL_RECIPIENTS):
        directory.add(Destination("email", f"email:user:{u}", address(u), f"user {u}"))
    policy = RetryPolicy(base_seconds=0.05, cap_seconds=1.0, max_attempts=30)
    if lease_seconds is not None:
        policy.lease = timedelta(seconds=lease_seconds)
    dispatcher = Dispatcher(
        directory,
        channels,
        policy=policy,
        group_interval=timedelta(0),
        max_rows_per_message=rows_per_message,
    )
    deadline = time.monotonic() + budget_seconds
    open_states = ["pending", "sending"]
    while time.monotonic() < deadline:
        dispatcher.drain(budget_seconds=max(0.1, deadline - time.monotonic()))
        if not Delivery.objects.filter(status__in=open_states).exists():
            return
        time.sleep(0.2)  # rows claimed by the dead worker: wait for their lease to expire


@contextmanager
def workers() -> Iterator[Callable[..., Any]]:
    """Start dispatcher workers with ``start(*args)``; any still alive on the way out is killed.

    Each child inherits SIGINT ignored, so Ctrl-C in a terminal interrupts only this process,
    which then stops the children here, before the stand-ins they talk to close.
    """
    spawn = multiprocessing.get_context("spawn")
    started: list[Any] = []

    def start(*args: Any) -> Any:
        process = spawn.Process(target=worker, args=args, daemon=True)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.is_alive():
                process.kill()
            process.join()


# -- counting what arrived -----------------------------------------------------------------


def received_pairs(slack, discord, smtp) -> tuple[Counter, int]:
    """(destination, notice title) -> times received; and notices only counted by digests."""
    pairs: Counter = Counter()
    hidden = 0
    for payload in list(slack.accepted):
        titles, more = slack_titles(payload)
        pairs.update(("slack:default", t) for t in titles)
        hidden += more
    for payload in list(discord.accepted):
        titles, more = discord_titles(payload)
        pairs.update(("discord:default", t) for t in titles)
        hidden += more
    for rcpts, message in list(smtp.messages):
        titles, more = email_titles(message, INSTANCE)
        for rcpt in rcpts:
            pairs.update((rcpt, t) for t in titles)
        hidden += more
    return pairs, hidden


# -- the run -------------------------------------------------------------------------------


def main() -> int:
    parser = OneLineParser(description=__doc__)
    parser.add_argument(
        "--notices", type=positive_int, default=1000, help="notices, at least 1 (default: 1000)"
    )
    parser.add_argument(
        "--fail",
        type=fraction,
        default=0.3,
        help="fraction of sends that fail, from 0 to below 1 (default: 0.3)",
    )
    parser.add_argument(
        "--kill-after",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="seconds after the worker starts (default: when half the messages arrived)",
    )
    parser.add_argument(
        "--rows-per-message",
        type=positive_int,
        default=1,
        help="dispatcher max_rows_per_message for Slack/Discord, at least 1 (product default "
        "1000; 1 keeps one message per notice so every notice can be counted by its title)",
    )
    parser.add_argument(
        "--budget",
        type=positive_float,
        default=300.0,
        metavar="SECONDS",
        help="total seconds allowed, above 0 (default: 300)",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=1, help="random seed, 0 or more (default: 1)"
    )
    args = parser.parse_args()

    n = args.notices
    started = time.monotonic()
    tmp = tempfile.TemporaryDirectory(prefix="notify-plus-faults-")
    db_path = os.path.join(tmp.name, "outbox.sqlite3")
    with (
        WebhookStandIn("slack", fail_fraction=args.fail, seed=args.seed) as slack,
        WebhookStandIn("discord", fail_fraction=args.fail, seed=args.seed + 1) as discord,
        SmtpStandIn(fail_fraction=args.fail, seed=args.seed + 2) as smtp,
        workers() as start_worker,  # closed first: no worker outlives the stand-ins
    ):
        setup_django(db_path, smtp.port)
        from django.db import connections

        from inventree_notify_plus.models import Delivery
        from inventree_notify_plus.outbox.report import counts
        from inventree_notify_plus.outbox.store import enqueue
        from inventree_notify_plus.routing.plan import PlannedDelivery

        expected: set[tuple[str, str]] = set()
        for i in range(n):
            notice = low_stock_notice(f"Part {i:05d}", i)
            user = i % EMAIL_RECIPIENTS
            enqueue(
                notice,
                [
                    PlannedDelivery("slack", "slack:default", "slack 'default'"),
                    PlannedDelivery("discord", "discord:default", "discord 'default'"),
                    PlannedDelivery("email", f"email:user:{user}", f"user {user}", groupable=False),
                ],
            )
            expected |= {
                ("slack:default", notice.title),
                ("discord:default", notice.title),
                (address(user), notice.title),
            }
        assert Delivery.objects.count() == 3 * n
        connections.close_all()
        enqueued_at = time.monotonic()

        common = (db_path, smtp.port, slack.url, discord.url)
        first = start_worker(*common, None, args.budget, args.rows_per_message)
        first_started = time.monotonic()
        print(f"{n} notices queued; worker 1 started", file=sys.stderr, flush=True)
        killed_at = None
        halfway = (3 * n) / 2
        while first.is_alive():
            elapsed = time.monotonic() - first_started
            arrived = len(slack.accepted) + len(discord.accepted) + len(smtp.messages)
            due = elapsed >= args.kill_after if args.kill_after is not None else arrived >= halfway
            if due:
                os.kill(first.pid, signal.SIGKILL)
                first.join()
                killed_at = elapsed
                break
            time.sleep(0.02)
        arrived_at_kill = len(slack.accepted) + len(discord.accepted) + len(smtp.messages)
        first.join()

        time.sleep(1.5)  # let the dead worker's lease (1 s for the second worker) expire
        remaining = max(10.0, args.budget - (time.monotonic() - started))
        second = start_worker(*common, 1.0, remaining, args.rows_per_message)
        second_started = time.monotonic()
        second.join(remaining + 30)
        if second.is_alive():
            second.kill()
            second.join()
        finished = time.monotonic()

        statuses = counts()
        unknown_keys = list(
            Delivery.objects.filter(status="unknown").values_list("destination", "title")
        )
        pairs, hidden = received_pairs(slack, discord, smtp)
        requests = slack.requests + discord.requests + smtp.requests
        injected = (
            (slack.requests - len(slack.accepted))
            + (discord.requests - len(discord.accepted))
            + smtp.refused
        )

    def key(dest: str, title: str) -> tuple[str, str]:
        if dest.startswith("email:user:"):
            return address(int(dest.rsplit(":", 1)[1])), title
        return dest, title

    delivered = {p for p in pairs if p in expected}
    misdirected = sum(1 for p in pairs if p not in expected)
    duplicates = sum(1 for p, c in pairs.items() if c > 1)
    unknown_arrived = sum(1 for d, t in unknown_keys if key(d, t) in delivered)
    failed = statuses["failed"]
    unknown_missing = statuses["unknown"] - unknown_arrived
    waiting = statuses["pending"] + statuses["sending"]
    missing = len(expected) - len(delivered)
    # Missing deliveries are accounted for when their row says why: failed, outcome unknown,
    # or still waiting (pending/sending when the budget ran out: not lost, just not yet sent).
    lost = missing - failed - unknown_missing - waiting
    rows = [
        ("notifications (N)", n),
        ("deliveries expected (3N)", len(expected)),
        ("delivered (distinct destination+notice received)", len(delivered)),
        ("duplicates (received more than once)", duplicates),
        ("misdirected (received by a wrong destination)", misdirected),
        ("not delivered (expected - delivered)", missing),
        ("  failed permanently (rows 'failed')", failed),
        ("  outcome unknown, did not arrive (worker killed mid-send)", unknown_missing),
        ("  still waiting when the budget ran out (rows pending / sending)", waiting),
        ("  lost: no row says why", lost),
        ("rows 'unknown' that arrived anyway", unknown_arrived),
        ("notices only counted by a digest ('and N more')", hidden),
        ("requests made (HTTP POSTs + SMTP RCPTs)", requests),
        ("transient failures injected", injected),
        ("seconds (total)", f"{finished - started:.1f}"),
    ]
    print(f"Fault injection: {n} notices, fail fraction {args.fail}, seed {args.seed}")
    print(
        f"enqueue {enqueued_at - started:.1f} s; worker 1 "
        + (
            f"SIGKILLed after {killed_at:.1f} s ({arrived_at_kill} messages had arrived)"
            if killed_at is not None
            else f"finished before the kill ({arrived_at_kill} messages)"
        )
        + f"; worker 2 (lease 1 s) drained in {finished - second_started:.1f} s"
        + f"; rows per webhook message <= {args.rows_per_message}"
    )
    print()
    print("| measure | value |")
    print("|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value} |")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
