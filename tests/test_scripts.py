"""What a user sees from the scripts in ``scripts/`` when the input is wrong, or at Ctrl-C.

Each script runs in its own process, as a user starts it: a bad option is one line on stderr
naming it, exit 2, before any work starts (no benchmark runs here); a database URL is parsed
and its database connected to first, without showing the password; help is plain text.
(``notify-plus`` and ``render_previews.py``: ``test_cli.py``.)
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from inventree_notify_plus.devtools.arguments import (
    fraction,
    names_from,
    non_negative_float,
    port_number,
    positive_float,
    positive_int,
    shown_url,
    whole_numbers,
)
from inventree_notify_plus.devtools.standins import free_port
from tests.test_cli import ROOT, assert_one_line_error, assert_plain, press_ctrl_c, run

SCRIPTS = ROOT / "scripts"
SCALE, BURST, FAULTS, LIVE = (
    str(SCRIPTS / name)
    for name in (
        "benchmark_scale.py",
        "benchmark_burst.py",
        "fault_injection.py",
        "multiworker_live.py",
    )
)
PASSWORD = "s3cret-pw"
DOWN_PORT = free_port()  # nothing listens there
DOWN = f"postgresql://bench:{PASSWORD}@127.0.0.1:{DOWN_PORT}/bench"
# Valid-looking values for multiworker_live.py's required options. argparse checks options in
# the order given, so a bad option placed before these is the one reported.
LIVE_REST = ("--shell", "sh", "--database", DOWN, "--clusters", "5,6")

BAD_INPUT = [
    (SCALE, ["--database", "nonsense"], ["argument --database", "not a PostgreSQL URL"]),
    (
        SCALE,
        ["--database", DOWN],
        ["cannot connect to", f"postgresql://bench:***@127.0.0.1:{DOWN_PORT}/bench"],
    ),
    (SCALE, ["--database", "postgresql://u@127.0.0.1:99999/x"], ["bad host or port"]),
    (SCALE, ["--database", "postgresql://u@127.0.0.1:5432"], ["names no database"]),
    (SCALE, ["--only", "bogus"], ["argument --only", "stages, subscribers, table", "'bogus'"]),
    (SCALE, ["--rows", "-3"], ["argument --rows", "at least 1", "'-3'"]),
    (SCALE, ["--repeats", "0"], ["argument --repeats", "at least 1", "'0'"]),
    (SCALE, ["--subscribers", "10,x"], ["argument --subscribers", "'10,x'"]),
    (BURST, ["--interval", "-5"], ["argument --interval", "at least 0", "'-5'"]),
    (BURST, ["--interval", "nan"], ["argument --interval", "'nan'"]),
    (BURST, ["--bursts", "0,10"], ["argument --bursts", "'0,10'"]),
    (BURST, ["--email-workers", "0"], ["argument --email-workers", "'0'"]),
    (FAULTS, ["--rows-per-message", "0"], ["argument --rows-per-message", "at least 1"]),
    (FAULTS, ["--budget", "0"], ["argument --budget", "above 0", "'0'"]),
    (FAULTS, ["--fail", "1"], ["argument --fail", "from 0 to below 1", "'1'"]),
    (FAULTS, ["--notices", "0"], ["argument --notices", "'0'"]),
    (FAULTS, ["--kill-after", "-1"], ["argument --kill-after", "'-1'"]),
    (FAULTS, ["--seed", "x"], ["argument --seed", "'x'"]),
    (LIVE, ["--shell", "no-such-command-np"], ["command not found: no-such-command-np"]),
    (LIVE, ["--shell", "/etc/passwd"], ["argument --shell", "not an executable file"]),
    (LIVE, ["--shell", "'python manage.py"], ["argument --shell", "No closing quotation"]),
    (LIVE, ["--database", "nonsense"], ["argument --database", "not a PostgreSQL URL"]),
    (LIVE, ["--shell", "sh", "--database", DOWN], ["argument --database", "cannot connect"]),
    (LIVE, ["--clusters", "1,2"], ["argument --clusters", "at least 2", "'1,2'"]),
    (LIVE, ["--parts", "0"], ["argument --parts", "'0'"]),
    (LIVE, ["--subscribers", "-1"], ["argument --subscribers", "'-1'"]),
    (LIVE, ["--fail", "2"], ["argument --fail", "'2'"]),
    (LIVE, ["--slack-port", "70000"], ["argument --slack-port", "from 1 to 65535"]),
    (LIVE, ["--smtp-delay", "-1"], ["argument --smtp-delay", "'-1'"]),
    (LIVE, ["--wait", "0"], ["argument --wait", "above 0"]),
]


@pytest.mark.parametrize(
    ("script", "args", "words"),
    BAD_INPUT,
    ids=[f"{Path(s).stem} {' '.join(a)}" for s, a, _ in BAD_INPUT],
)
def test_bad_input_is_one_line_and_exit_2(script, args, words):
    rest = LIVE_REST if script == LIVE else ()
    result = run(script, *args, *rest)
    assert_one_line_error(result, *words)
    assert PASSWORD not in result.stderr


def test_multiworker_refuses_a_port_already_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(LIVE, "--discord-port", str(port), *LIVE_REST)
    assert_one_line_error(result, "argument --discord-port", f"port {port} on 127.0.0.1")


def test_multiworker_names_what_is_missing():
    assert_one_line_error(run(LIVE, "--shell", "sh"), "required: --database, --clusters")


@pytest.mark.parametrize("script", [SCALE, BURST, FAULTS, LIVE])
def test_help_is_plain_text(script):
    result = run(script, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")
    assert_plain(result.stdout)


def test_ctrl_c_stops_fault_injection_and_its_worker_with_one_line():
    # Ctrl-C while the worker process starts: neither it nor the script prints a traceback,
    # and no worker outlives the script (its output would keep the pipe open).
    code, out, err = press_ctrl_c(
        FAULTS, "--notices", "100", ready="100 notices queued", stream="stderr"
    )
    assert code == 130
    assert err.splitlines() == [
        "100 notices queued; worker 1 started",
        "fault_injection.py: interrupted",
    ]
    assert out == ""


# -- the shared checks, at their bounds --------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (positive_int, {"1": 1, "250": 250}, ["0", "-1", "1.5", "x", ""]),
        (port_number, {"1": 1, "65535": 65535}, ["0", "65536"]),
        (positive_float, {"0.001": 0.001, "5": 5.0}, ["0", "-0.1", "inf", "nan"]),
        (non_negative_float, {"0": 0.0, "10.5": 10.5}, ["-5", "nan", "-inf"]),
        (fraction, {"0": 0.0, "0.999": 0.999}, ["1", "-0.01", "nan"]),
        (whole_numbers(1), {"1,100,1000": [1, 100, 1000], "7": [7]}, ["0,1", "1,,2", "a"]),
        (
            names_from("stages", "table"),
            {"table,stages,table": ["table", "stages"]},
            ["bogus", "", "stages,"],
        ),
    ],
)
def test_checks_accept_their_range_and_refuse_the_rest(check, good, bad):
    for value, parsed in good.items():
        assert check(value) == parsed
    for value in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(f"not {value!r}")):
            check(value)


def test_urls_are_shown_without_their_password():
    assert shown_url(DOWN) == f"postgresql://bench:***@127.0.0.1:{DOWN_PORT}/bench"
    assert shown_url("postgresql://127.0.0.1/db") == "postgresql://127.0.0.1/db"


# -- multiworker_live.py's checks that need a database that answers --------------------------

DB = os.environ.get("NOTIFY_PLUS_TEST_POSTGRES", "")
needs_postgres = pytest.mark.skipif(
    not DB, reason="no PostgreSQL: set NOTIFY_PLUS_TEST_POSTGRES (.ci/run does)"
)


@pytest.fixture
def clusters():
    """Two stand-in qclusters: processes that each lead their own process group."""
    procs = [subprocess.Popen(["sleep", "300"], start_new_session=True) for _ in range(2)]
    yield ",".join(str(p.pid) for p in procs)
    for proc in procs:
        proc.kill()
        proc.wait()


def live(*args: str, clusters: str, shell: str = "sh") -> subprocess.CompletedProcess:
    ports = [str(free_port()) for _ in range(3)]
    return run(
        LIVE,
        *("--shell", shell, "--database", DB, "--clusters", clusters),
        *("--slack-port", ports[0], "--discord-port", ports[1], "--smtp-port", ports[2]),
        *args,
    )


def fake_shell(folder: Path, database: str, user: bool) -> str:
    """A stand-in for 'python manage.py': prints what InvenTree's shell would for the probe."""
    path = folder / "manage"
    path.write_text(f"#!/bin/sh\necho DB{database}\necho USER{user}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@needs_postgres
def test_multiworker_refuses_pids_that_lead_no_process_group(clusters):
    lonely = "4194305"  # above the largest pid_max Linux allows: no such group, ever
    result = live(clusters=f"{clusters.split(',')[0]},{lonely}")
    assert_one_line_error(result, f"no process group {lonely}", "setsid")


@needs_postgres
def test_multiworker_refuses_a_shell_that_is_not_inventree(clusters):
    result = live(clusters=clusters, shell="sh -c 'echo no manage.py here >&2; exit 3' --")
    assert_one_line_error(result, "argument --shell", "no manage.py here")


@needs_postgres
def test_multiworker_refuses_a_shell_on_another_database(clusters, tmp_path):
    result = live(clusters=clusters, shell=fake_shell(tmp_path, "elsewhere", True))
    assert_one_line_error(result, "argument --database", "--shell uses 'elsewhere'")


@needs_postgres
def test_multiworker_refuses_an_unknown_user(clusters, tmp_path):
    name = urlsplit(DB).path.strip("/")
    result = live("--user", "nobody", clusters=clusters, shell=fake_shell(tmp_path, name, False))
    assert_one_line_error(result, "argument --user", "no user 'nobody'")
