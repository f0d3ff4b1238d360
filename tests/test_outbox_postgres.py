"""The outbox on PostgreSQL, where row locks are real: several processes at once.

SQLite serialises writers, so ``select_for_update(skip_locked)`` and the condition lock are
only tested here. Each worker is its own process with its own connection
(``support/pg_worker.py``), as InvenTree's workers are. Needs ``NOTIFY_PLUS_TEST_POSTGRES`` (a
database URL, e.g. ``postgresql://user:password@127.0.0.1:5432/name``); ``.ci/run`` provides one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from inventree_notify_plus.devtools.received import slack_titles
from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

DB = os.environ.get("NOTIFY_PLUS_TEST_POSTGRES", "")
WORKER = Path(__file__).parent / "support" / "pg_worker.py"

pytestmark = pytest.mark.skipif(
    not DB,
    reason="no PostgreSQL: set NOTIFY_PLUS_TEST_POSTGRES=postgresql://user:pw@host:port/db "
    "(.ci/run does) to test concurrent workers",
)


def start(mode: str, **args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, json.dumps({"db": DB, **args})],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def run(mode: str, **args) -> dict:
    return result(start(mode, **args))


@pytest.fixture(scope="module", autouse=True)
def migrated():
    run("reset", migrate=True)


@pytest.fixture(autouse=True)
def empty():
    run("reset")


def test_two_dispatchers_claiming_at_once_send_each_delivery_once():
    """Two workers drain the same outbox at the same moment: every message arrives once."""
    notices, users = 30, 8
    run("enqueue", notices=notices, users=users)
    with WebhookStandIn("slack") as slack, SmtpStandIn() as smtp:
        at = time.time() + 2
        common = {"slack": slack.url, "smtp_port": smtp.port, "users": users, "start": at}
        workers = [start("drain", **common), start("drain", **common)]
        reports = [result(w) for w in workers]
        titles = Counter(t for body in slack.accepted for t in slack_titles(body)[0])
        mails = Counter((rcpts[0], m["Subject"]) for rcpts, m in smtp.messages)
    assert sum(r["sent"] for r in reports) == notices * (users + 1)
    assert titles == Counter({f"Low stock: Part {n}": 1 for n in range(notices)})
    assert len(mails) == notices * users and set(mails.values()) == {1}


def test_same_notice_enqueued_by_two_processes_at_once_is_queued_once():
    at = time.time() + 2
    procs = [start("enqueue", notices=20, users=5, start=at) for _ in range(2)]
    for proc in procs:
        result(proc)
    assert run("count") == {"deliveries": 20 * 6, "notices": 20}
    assert run("enqueue", notices=20, users=5)["created"] == 0


def test_concurrent_tasks_start_one_low_stock_episode():
    """Six tasks see the same part low at the same moment: one announcement."""
    at = time.time() + 2
    procs = [start("begin", key="low_stock:part:7", start=at) for _ in range(6)]
    assert sorted(result(p)["new"] for p in procs) == [False] * 5 + [True]


def test_worker_killed_mid_batch_the_survivor_sends_the_rest_once():
    """SIGKILL while the third mail of a batch is on the wire (the mail server takes 0.5 s a
    mail): the survivor sends everything else once, after the 2 s lease; only that mail's
    delivery is left 'unknown' (it may or may not have arrived; it is not sent again)."""
    users = 10
    run("enqueue", notices=1, users=users, slack=0)
    with SmtpStandIn(delay=0.5) as smtp:
        common = {"slack": "http://127.0.0.1:9/", "smtp_port": smtp.port, "users": users}
        dying = start("drain", lease=2, **common)
        deadline = time.time() + 60
        while smtp.requests < 3 and time.time() < deadline:  # the third RCPT: its DATA is next
            time.sleep(0.01)
        dying.kill()
        dying.communicate()
        survivor = result(start("drain", lease=2, budget=20, **common))
        mails = Counter(rcpts[0] for rcpts, _ in smtp.messages)
    statuses = run("statuses")
    assert statuses.get("unknown") == ["email:user:2"]
    assert sorted(statuses["sent"]) == sorted(f"email:user:{u}" for u in range(users) if u != 2)
    assert survivor["sent"] == users - 3
    assert {u: mails[f"u{u}@example.com"] for u in range(users) if u != 2} == dict.fromkeys(
        (u for u in range(users) if u != 2), 1
    )
    assert mails["u2@example.com"] <= 1  # in doubt: sent at most once, never again


def test_a_server_whose_clock_runs_ahead_takes_no_live_claim():
    """Another worker claimed a row just now and holds the waiting drain's lease; a server whose
    clock is 10 minutes ahead sees both as live: claims and leases are on the database's clock."""
    run("claim", age=0)
    holder = run("skewed", skew=0)
    assert holder == {"recovered": 0, "statuses": ["sending"], "waiter": True}
    ahead = run("skewed", skew=600)
    assert ahead == {"recovered": 0, "statuses": ["sending"], "waiter": False}


def test_a_server_whose_clock_runs_behind_still_finds_a_dead_claim():
    """A worker died holding a claim a minute ago (the lease is 30 s); a server whose clock is
    10 minutes behind marks it 'unknown' all the same."""
    run("claim", age=60)
    behind = run("skewed", skew=-600, lease=30)
    assert behind["recovered"] == 1 and behind["statuses"] == ["unknown"]
