"""Many workers on a live InvenTree: N low parts, faults injected, one qcluster killed midway.

Runs against a live InvenTree (PostgreSQL, a Redis cache, two ``manage.py qcluster``
processes) with Notify Plus active and its Slack/Discord URLs pointing at this script's
stand-ins. It creates N parts in a new category that the admin subscribes to, drops each
below its minimum stock (InvenTree's own path: a stock item, its signal, the worker's
low-stock task), SIGKILLs the given qcluster once half of them are queued, and prints: what
arrived on each channel (duplicates, lost), outbox rows per status, rows in flight at the
kill and how long until none of them was left 'sending', and 429s from the rate-limited
stand-ins (Slack 1/s, Discord 5 per 2 s per webhook).

    python scripts/multiworker_live.py --shell "$LAB/venv/bin/python $INVENTREE_SRC/manage.py" \\
        --database postgresql://inventree:…@127.0.0.1:5432/inventree --kill-pid 1234 \\
        --slack-port 9301 --discord-port 9302 --smtp-port 9325

Run it with InvenTree's environment (``env.sh``) so ``--shell`` reaches its database.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.devtools.received import discord_titles, slack_titles
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

SETUP = """
import json
from django.contrib.auth import get_user_model
from part.models import Part, PartCategory, PartCategoryStar
admin = get_user_model().objects.get(username={user!r})
if not admin.email:
    admin.email = 'admin@example.com'; admin.save()
cat = PartCategory.objects.create(name={category!r})
PartCategoryStar.objects.get_or_create(user=admin, category=cat)
ids = [Part.objects.create(name=f'{prefix} %04d' % n, category=cat, minimum_stock=10,
                           component=True).pk for n in range({n})]
print('IDS' + json.dumps(ids))
"""

# InvenTree's stock signal skips offloading from a shell session; queue its task as it would.
DROP = """
import json, time
from InvenTree.tasks import offload_task
from part.models import Part
from part.tasks import notify_low_stock_if_required
from stock.models import StockItem
for pk in json.loads({ids!r}):
    StockItem.objects.create(part=Part.objects.get(pk=pk), quantity=3)
    offload_task(notify_low_stock_if_required, pk, group='notification', force_async=True)
    time.sleep({pause})
print('DROPPED')
"""


def shell(cmd: str, code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*cmd.split(), "shell", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def statuses(db: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM inventree_notify_plus_delivery "
            "WHERE title LIKE %s GROUP BY status",
            (f"%{PREFIX}%",),
        ).fetchall()
    return dict(rows)


def queued_titles(db: str) -> set[str]:
    """Notices of this run that reached the outbox (InvenTree's worker got to them)."""
    import psycopg

    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT DISTINCT title FROM inventree_notify_plus_delivery WHERE title LIKE %s",
            (f"%{PREFIX}%",),
        ).fetchall()
    return {r[0].removeprefix("Low stock: ") for r in rows}


def sending_since(db: str, before: float) -> int:
    import psycopg

    with psycopg.connect(db) as conn:
        return conn.execute(
            "SELECT count(*) FROM inventree_notify_plus_delivery WHERE status = 'sending' "
            "AND claimed_at < to_timestamp(%s) AND title LIKE %s",
            (before, f"%{PREFIX}%"),
        ).fetchone()[0]


PREFIX = f"MW{os.getpid()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shell", required=True, help="command running InvenTree's manage.py")
    parser.add_argument("--database", required=True, help="InvenTree's PostgreSQL URL")
    parser.add_argument(
        "--kill-pid", type=int, required=True, help="a qcluster to SIGKILL (its process group)"
    )
    parser.add_argument("--parts", type=int, default=1000)
    parser.add_argument("--fail", type=float, default=0.3, help="fraction of requests failing")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--slack-port", type=int, default=9301)
    parser.add_argument("--discord-port", type=int, default=9302)
    parser.add_argument("--smtp-port", type=int, default=9325)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between drops")
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for delivery")
    args = parser.parse_args()
    if not 0 <= args.fail < 1:
        parser.error("--fail: a fraction from 0 to 1, e.g. 0.3")

    names = [f"{PREFIX} {n:04d}" for n in range(args.parts)]
    with (
        WebhookStandIn(
            "slack", port=args.slack_port, rate_limit=(1, 1.0), fail_fraction=args.fail
        ) as slack,
        WebhookStandIn(
            "discord", port=args.discord_port, rate_limit=(5, 2.5), fail_fraction=args.fail
        ) as discord,
        SmtpStandIn(port=args.smtp_port, fail_fraction=args.fail) as smtp,
    ):
        setup = shell(
            args.shell,
            SETUP.format(user=args.user, category=f"{PREFIX} parts", prefix=PREFIX, n=args.parts),
        )
        out, _ = setup.communicate()
        ids = json.loads(next(x for x in out.splitlines() if x.startswith("IDS"))[3:])
        print(f"{len(ids)} parts created; dropping them below minimum stock", flush=True)
        t0 = time.monotonic()
        dropper = shell(args.shell, DROP.format(ids=json.dumps(ids), pause=args.pause))
        killed_at = None
        in_flight = 0
        resolved_after = None
        while time.monotonic() - t0 < args.wait:
            time.sleep(1)
            got = Counter(t for b in list(slack.accepted) for t in slack_titles(b)[0])
            queued = sum(statuses(args.database).values())
            if killed_at is None and queued >= 3 * args.parts // 2:  # half the notices queued
                os.killpg(os.getpgid(args.kill_pid), signal.SIGKILL)  # the cluster and its workers
                killed_at = time.time()
                in_flight = statuses(args.database).get("sending", 0)
                print(
                    f"killed qcluster {args.kill_pid} at {time.monotonic() - t0:.0f} s; "
                    f"{in_flight} deliveries 'sending' then",
                    flush=True,
                )
            if killed_at and resolved_after is None and not sending_since(args.database, killed_at):
                resolved_after = time.time() - killed_at
            state = statuses(args.database)
            mails = {
                str(m["Subject"]) for _, m in list(smtp.messages) if PREFIX in str(m["Subject"])
            }
            announced = len(got) >= args.parts and len(mails) >= args.parts
            quiet = not (state.get("pending") or state.get("sending"))
            if dropper.poll() is not None and killed_at and announced and quiet:
                break
        total = time.monotonic() - t0
        if dropper.poll() is None:  # out of time: stop dropping, report what happened so far
            dropper.kill()
        slack_seen = Counter(t for b in list(slack.accepted) for t in slack_titles(b)[0])
        discord_seen = Counter(t for b in list(discord.accepted) for t in discord_titles(b)[0])
        mails = Counter(
            str(m["Subject"]).rsplit(": ", 1)[-1]
            for _, m in list(smtp.messages)
            if PREFIX in str(m["Subject"]) and "Low stock: " in str(m["Subject"])
        )
        rows = statuses(args.database)
        queued = queued_titles(args.database)

    def line(kind: str, seen: Counter, key) -> str:
        counts = {n: seen.get(key(n), 0) for n in names}
        announced = sum(1 for c in counts.values() if c)
        lost = sum(1 for n, c in counts.items() if not c and n in queued)
        dup = sum(c - 1 for c in counts.values() if c > 1)
        return f"| {kind} | {len(queued)} | {announced} | {lost} | {dup} |"

    print()
    print(f"## Many workers: {args.parts} low parts, {args.fail:.0%} faults, one qcluster killed")
    print()
    print(
        f"Command: `python scripts/multiworker_live.py {' '.join(sys.argv[1:])}`".replace(
            args.database, "postgresql://…"
        )
    )
    print()
    print(
        f"Of {args.parts} parts dropped, InvenTree's worker had turned {len(queued)} into "
        "notifications when the run ended (the rest still waited in its task queue)."
    )
    print()
    print("| channel | notices queued | announced | queued, not announced | duplicates |")
    print("|---|---:|---:|---:|---:|")
    print(line("Slack", slack_seen, lambda n: f"Low stock: {n}"))
    print(line("Discord", discord_seen, lambda n: f"Low stock: {n}"))
    print(line("email (admin)", mails, lambda n: n))
    print()
    print(f"- outbox rows by status: {rows}")
    print(
        f"- in flight ('sending') at the kill: {in_flight}; 'unknown' now: {rows.get('unknown', 0)}"
    )
    print(
        f"- claims older than the kill left 'sending': none after {resolved_after:.0f} s"
        if resolved_after is not None
        else "- claims: not resolved"
    )
    print(
        f"- stand-ins: Slack {slack.requests} requests, {slack.rate_limited} over 1/s; "
        f"Discord {discord.requests} requests, {discord.rate_limited} over 5 per 2 s; "
        f"SMTP {smtp.requests} RCPT, {smtp.refused} refused (injected)"
    )
    print(f"- run time {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
