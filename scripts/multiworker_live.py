"""Many workers on a live InvenTree: N low parts, faults injected, one qcluster killed midway.

Runs against a live InvenTree (PostgreSQL, a Redis cache, two "manage.py qcluster" processes
started with setsid, so each is its own process group) with Notify Plus active and its
Slack/Discord URLs pointing at this script's stand-ins. It creates N parts, below their
minimum stock, in a new category that the admin and --subscribers more users star, then
queues InvenTree's own notify_low_stock task for each part, as InvenTree's
notify_low_stock_if_required does (the qclusters run them: InvenTree's notification, Notify
Plus's intake and its inline drain, and the queued drains).

Once half the deliveries are queued it SIGKILLs the qcluster (the whole process group) that
holds a connection to a stand-in at that moment, so that a message is in flight. It prints:
what arrived on each channel and per subscriber (duplicates, never arrived), outbox rows per
status, the rows in flight at the kill and how long until none claimed before the kill was
left 'sending', and requests over the service's limits (Slack 1/s, Discord 5 per 2 s).

    python scripts/multiworker_live.py --shell "$LAB/venv/bin/python $INVENTREE_SRC/manage.py" \\
        --database postgresql://inventree:…@127.0.0.1:5432/inventree --clusters 1234,5678

Run it with InvenTree's environment (env.sh) so --shell reaches its database; Notify Plus's
Slack and Discord destinations must point at --slack-port and --discord-port and InvenTree's
email at --smtp-port. Before anything is created it checks that the database answers and
holds Notify Plus's outbox, that --shell runs InvenTree's shell on that same database and
knows --user, that each --clusters pid leads a process group, and that the ports are free.
Ctrl-C stops it (exit status 130).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inventree_notify_plus.devtools.arguments import (
    OneLineParser,
    command_line,
    fraction,
    free_port,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    postgres_connection,
    reachable_postgres,
    run_main,
    shown_url,
    whole_numbers,
)
from inventree_notify_plus.devtools.received import discord_titles, email_titles, slack_titles
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

# Creating the parts is set-up, not what is measured: plugin events are off meanwhile, or
# InvenTree would queue a few event tasks per part before the first notice.
SETUP = """
import json
from common.settings import get_global_setting, set_global_setting
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from part.models import Part, PartCategory, PartCategoryStar
from users.models import RuleSet, UserProfile
events = get_global_setting('ENABLE_PLUGINS_EVENTS')
set_global_setting('ENABLE_PLUGINS_EVENTS', False)
User = get_user_model()
admin = User.objects.get(username={user!r})
if not admin.email:
    admin.email = 'admin@example.com'; admin.save()
cat = PartCategory.objects.create(name={category!r})
# InvenTree notifies only users who may view the part: engineers with the 'part' role.
group, _ = Group.objects.get_or_create(name='Notify Plus benchmark engineers')
RuleSet.objects.update_or_create(group=group, name='part', defaults={{'can_view': True}})
people = [admin] + [User.objects.create(username=f'{prefix}-u%02d' % n,
                                        email=f'{prefix}-u%02d@example.com' % n)
                    for n in range({subscribers})]
for person in people[1:]:
    UserProfile.objects.get_or_create(user=person)
    person.groups.add(group)
for person in people:
    PartCategoryStar.objects.get_or_create(user=person, category=cat)
ids = [Part.objects.create(name=f'{prefix} %04d' % n, category=cat, minimum_stock=10,
                           component=True).pk for n in range({n})]
set_global_setting('ENABLE_PLUGINS_EVENTS', events)
print('IDS' + json.dumps(ids))
print('MAIL' + json.dumps([[p.pk, p.email] for p in people]))
print('INST' + str(get_global_setting('INVENTREE_INSTANCE') or 'InvenTree'))
"""

# What InvenTree's notify_low_stock_if_required does for a part below its minimum.
DROP = """
import json
from InvenTree.tasks import offload_task
from part.models import Part
from part.tasks import notify_low_stock
for part in Part.objects.filter(pk__in=json.loads({ids!r})).order_by('pk'):
    offload_task(notify_low_stock, part, group='notification', force_async=True)
print('DROPPED')
"""

# Checks --shell before anything is created: it runs Django's shell, on which database, and
# whether --user is there.
PROBE = """
from django.contrib.auth import get_user_model
from django.db import connection
print('DB' + str(connection.settings_dict['NAME']))
print('USER' + str(get_user_model().objects.filter(username={user!r}).exists()))
"""


def shell(cmd: list[str], code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*cmd, "shell", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def printed(out: str, mark: str) -> str | None:
    """The value the shell printed after mark, if it did."""
    return next((line[len(mark) :] for line in out.splitlines() if line.startswith(mark)), None)


def marked(out: str, err: str, mark: str) -> str:
    """The value the shell printed after mark; exits with InvenTree's error if none."""
    value = printed(out, mark)
    if value is None:
        sys.exit(f"set-up in InvenTree's shell failed:\n{err[-3000:]}")
    return value


class Outbox:
    """The run's rows in Notify Plus's outbox (read straight from PostgreSQL)."""

    TABLE = "inventree_notify_plus_delivery"

    def __init__(self, url: str, prefix: str) -> None:
        self.conn = postgres_connection(url, autocommit=True)
        self.prefix = prefix
        self.like = f"%{prefix}%"

    def exists(self) -> bool:
        """Whether the database holds Notify Plus's outbox (the plugin is installed, migrated)."""
        found = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (self.TABLE,))
        return found.fetchone()[0]

    def statuses(self) -> dict[str, int]:
        rows = self.conn.execute(
            f"SELECT status, count(*) FROM {self.TABLE} WHERE title LIKE %s GROUP BY status",
            (self.like,),
        ).fetchall()
        return dict(rows)

    def sending(self, before: float | None = None) -> tuple[int, int]:
        """Rows 'sending' (claimed before ``before`` if given): all, and of started messages."""
        sql = (
            f"SELECT count(*), count(*) FILTER (WHERE message_id <> '-') FROM {self.TABLE} "
            "WHERE status = 'sending' AND title LIKE %s"
        )
        args: tuple = (self.like,)
        if before is not None:
            sql += " AND claimed_at < to_timestamp(%s)"
            args = (self.like, before)
        return self.conn.execute(sql, args).fetchone()

    def rows(self) -> list[tuple[str, str, str]]:
        """(title, destination, status) of every row of the run."""
        return self.conn.execute(
            f"SELECT title, destination, status FROM {self.TABLE} WHERE title LIKE %s",
            (self.like,),
        ).fetchall()


def connected_groups(ports: list[int]) -> set[int]:
    """Process groups with an open TCP connection to one of the stand-ins' ports."""
    query = " or ".join(f"dport = :{p}" for p in ports)
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( {query} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    groups = set()
    for pid in re.findall(r"pid=(\d+)", out):
        try:
            groups.add(os.getpgid(int(pid)))
        except ProcessLookupError:
            continue
    return groups


def parse_args() -> tuple[Any, list[int], Outbox]:
    """The options, each checked before anything is created in InvenTree (one line, exit 2)."""
    parser = OneLineParser(description=__doc__)
    parser.add_argument(
        "--shell",
        required=True,
        type=command_line,
        metavar="COMMAND",
        help='command running InvenTree\'s manage.py, e.g. "python manage.py"',
    )
    parser.add_argument(
        "--database", required=True, type=reachable_postgres, help="InvenTree's PostgreSQL URL"
    )
    parser.add_argument(
        "--clusters",
        required=True,
        type=whole_numbers(2),
        metavar="PID,PID",
        help="pids of the qclusters (each its own process group, e.g. started with setsid)",
    )
    parser.add_argument(
        "--parts", type=positive_int, default=1000, help="parts, at least 1 (default: 1000)"
    )
    parser.add_argument(
        "--subscribers",
        type=non_negative_int,
        default=9,
        help="users starring, besides admin, 0 or more (default: 9)",
    )
    parser.add_argument(
        "--fail",
        type=fraction,
        default=0.3,
        help="fraction of requests failing, from 0 to below 1 (default: 0.3)",
    )
    parser.add_argument("--user", default="admin", help="InvenTree's admin user (default: admin)")
    parser.add_argument("--slack-port", type=free_port, default="9301", metavar="PORT")
    parser.add_argument("--discord-port", type=free_port, default="9302", metavar="PORT")
    parser.add_argument("--smtp-port", type=free_port, default="9325", metavar="PORT")
    parser.add_argument(
        "--smtp-delay",
        type=non_negative_float,
        default=0.2,
        metavar="SECONDS",
        help="seconds per mail, 0 or more (default: 0.2)",
    )
    parser.add_argument(
        "--wait",
        type=positive_float,
        default=1800,
        metavar="SECONDS",
        help="seconds to wait for delivery, above 0 (default: 1800)",
    )
    args = parser.parse_args()
    clusters = list(dict.fromkeys(args.clusters))
    if len(clusters) < 2:
        parser.error("argument --clusters: give two qclusters (one is killed, one goes on)")
    for pid in clusters:
        if pid == os.getpgrp():
            parser.error(f"argument --clusters: {pid} is this script's own process group")
        try:
            os.killpg(pid, 0)  # signal 0: only asks whether the group is there
        except ProcessLookupError:
            parser.error(
                f"argument --clusters: no process group {pid} (start each qcluster with setsid)"
            )
        except PermissionError:
            parser.error(f"argument --clusters: not allowed to signal process group {pid}")
    ports = [args.slack_port, args.discord_port, args.smtp_port]
    if len(set(ports)) < len(ports):
        parser.error(f"--slack-port, --discord-port and --smtp-port must differ, not {ports}")
    probe_shell(parser, args)
    outbox = Outbox(args.database, f"MW{os.getpid()}")
    if not outbox.exists():
        parser.error(
            f"argument --database: {shown_url(args.database)} has no {Outbox.TABLE} table: "
            "is Notify Plus installed there and migrated?"
        )
    return args, clusters, outbox


def probe_shell(parser: OneLineParser, args: Any) -> None:
    """Run PROBE in --shell: it must run Django's shell, on --database, with --user in it."""
    command = shlex.join([*args.shell, "shell"])
    try:
        done = subprocess.run(
            [*args.shell, "shell", "-c", PROBE.format(user=args.user)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        parser.error(f"argument --shell: {command} did not run: {exc}")
    database, user = printed(done.stdout, "DB"), printed(done.stdout, "USER")
    if user is None:
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        reason = errors[-1] if errors else f"exit status {done.returncode}, no output"
        parser.error(f"argument --shell: {command} did not answer as InvenTree's shell: {reason}")
    wanted = urlsplit(args.database).path.strip("/")
    if database != wanted:
        parser.error(f"argument --database: names database {wanted!r}, --shell uses {database!r}")
    if user != "True":
        parser.error(f"argument --user: InvenTree has no user {args.user!r}")


def main() -> int:
    args, clusters, outbox = parse_args()
    prefix = outbox.prefix
    ports = [args.slack_port, args.discord_port, args.smtp_port]
    with (
        WebhookStandIn(
            "slack", port=args.slack_port, rate_limit=(1, 1.0), fail_fraction=args.fail
        ) as slack,
        WebhookStandIn(
            "discord", port=args.discord_port, rate_limit=(5, 2.0), fail_fraction=args.fail
        ) as discord,
        SmtpStandIn(port=args.smtp_port, fail_fraction=args.fail, delay=args.smtp_delay) as smtp,
        ExitStack() as cleanup,
    ):
        setup = shell(
            args.shell,
            SETUP.format(
                user=args.user,
                category=f"{prefix} parts",
                prefix=prefix,
                n=args.parts,
                subscribers=args.subscribers,
            ),
        )
        out, err = setup.communicate()
        ids = json.loads(marked(out, err, "IDS"))
        people = json.loads(marked(out, err, "MAIL"))
        instance = marked(out, err, "INST")
        expected = len(ids) * (2 + len(people))
        print(
            f"{len(ids)} parts below minimum, {len(people)} subscribers; queueing InvenTree's "
            f"low-stock task for each ({expected} deliveries expected)",
            flush=True,
        )
        t0 = time.monotonic()
        dropper = subprocess.Popen(
            [*args.shell, "shell", "-c", DROP.format(ids=json.dumps(ids))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cleanup.callback(dropper.kill)  # on Ctrl-C too: queue no more tasks into InvenTree
        killed = None  # (pgid, wall time)
        half_at = None
        in_flight = (0, 0)
        resolved_after = None
        state: dict[str, int] = {}
        shown = t0
        while time.monotonic() - t0 < args.wait:
            time.sleep(0.5)
            state = outbox.statuses()
            if killed is None and sum(state.values()) >= expected // 2:
                half_at = half_at or time.monotonic()
                # An SMTP connection is open only while a batch is being sent (webhook clients
                # may keep idle connections): prefer a cluster in the middle of an email batch.
                mailing = [g for g in connected_groups([args.smtp_port]) if g in clusters]
                busy = mailing or [g for g in connected_groups(ports) if g in clusters]
                late = time.monotonic() - half_at > 120
                if busy or late:
                    victim = busy[0] if busy else clusters[0]
                    os.killpg(victim, signal.SIGKILL)  # the cluster and its workers
                    killed = (victim, time.time())
                    in_flight = outbox.sending()
                    print(
                        f"killed qcluster {victim} at {time.monotonic() - t0:.0f} s "
                        f"({'sending to a stand-in' if busy else 'no send in progress'}); "
                        f"{in_flight[0]} rows 'sending' then, {in_flight[1]} of them in "
                        "messages already started",
                        flush=True,
                    )
            if time.monotonic() - shown > 30:
                shown = time.monotonic()
                print(
                    f"{shown - t0:.0f} s: {sum(state.values())} rows queued, {state}",
                    flush=True,
                )
            if killed and resolved_after is None and not outbox.sending(killed[1])[0]:
                resolved_after = time.time() - killed[1]
                print(f"no claim from before the kill left after {resolved_after:.0f} s")
            settled = not (state.get("pending") or state.get("sending"))
            queued = sum(state.values()) >= expected
            if dropper.poll() is not None and killed and queued and settled:
                break
        total = time.monotonic() - t0
        if dropper.poll() is None:
            dropper.kill()
        time.sleep(1)
        slack_seen = Counter(t for b in list(slack.accepted) for t in slack_titles(b)[0])
        discord_seen = Counter(t for b in list(discord.accepted) for t in discord_titles(b)[0])
        mail_seen = {address: Counter() for _, address in people}
        for rcpts, message in list(smtp.messages):
            for address in rcpts:
                mail_seen.setdefault(address, Counter()).update(email_titles(message, instance)[0])
        rows = outbox.rows()
        status = Counter(s for _, _, s in rows)

    titles = [f"Low stock: {prefix} {n:04d}" for n in range(len(ids))]
    by_row = {(t, d): s for t, d, s in rows}

    def summary(seen: Counter, destination: str) -> tuple[int, int, Counter]:
        arrived = sum(1 for t in titles if seen.get(t))
        duplicates = sum(seen[t] - 1 for t in titles if seen.get(t, 0) > 1)
        missing = Counter(
            by_row.get((t, destination), "not queued") for t in titles if not seen.get(t)
        )
        return arrived, duplicates, missing

    def fmt(missing: Counter) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(missing.items())) or "0"

    print()
    print(
        f"## Many workers: {len(ids)} low parts, {args.fail:.0%} faults, one of "
        f"{len(clusters)} qclusters killed"
    )
    print()
    cmd = " ".join(sys.argv[1:]).replace(args.database, "postgresql://…")
    print(f"Command: `python scripts/multiworker_live.py {cmd}`")
    print()
    print("| channel | notices | arrived | duplicates | never arrived (row status) |")
    print("|---|---:|---:|---:|---|")
    for name, seen, dest in (
        ("Slack", slack_seen, "slack:default"),
        ("Discord", discord_seen, "discord:default"),
    ):
        arrived, dup, missing = summary(seen, dest)
        print(f"| {name} | {len(titles)} | {arrived} | {dup} | {fmt(missing)} |")
    mail_arrived = mail_dup = 0
    mail_missing: Counter = Counter()
    for pk, address in people:
        arrived, dup, missing = summary(mail_seen[address], f"email:user:{pk}")
        mail_arrived, mail_dup = mail_arrived + arrived, mail_dup + dup
        mail_missing.update(missing)
    print(
        f"| email ({len(people)} subscribers) | {len(titles) * len(people)} | {mail_arrived} | "
        f"{mail_dup} | {fmt(mail_missing)} |"
    )
    print()
    print(f"- outbox rows by status: {dict(status)}")
    print(
        f"- in flight at the kill: {in_flight[0]} rows 'sending', {in_flight[1]} in messages "
        f"already started; 'unknown' now: {status.get('unknown', 0)}"
    )
    print(
        f"- claims from before the kill: none left 'sending' after {resolved_after:.0f} s"
        if resolved_after is not None
        else "- claims from before the kill: still 'sending' when the run ended"
    )
    print(
        f"- stand-ins: Slack {slack.requests} requests, {slack.rate_limited} over 1/s; "
        f"Discord {discord.requests} requests, {discord.rate_limited} over 5 per 2 s; "
        f"SMTP {len(smtp.messages)} messages, {smtp.requests} RCPT, {smtp.refused} refused "
        f"(injected), {len(smtp.peers)} connections"
    )
    print(f"- run time {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
