"""What a user sees from ``notify-plus`` and ``scripts/render_previews.py``.

Each runs in its own process, as a user starts it: bad input is one line on stderr and exit 2,
before any work starts; help is plain text; Ctrl-C is one line and exit 130; the demo exits 0
only when everything arrived. (The other scripts: ``test_scripts.py``.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RENDER = ROOT / "scripts" / "render_previews.py"

# Python with aiosmtpd unimportable, as after a plain `pip install` without extras.
WITHOUT_AIOSMTPD = "import sys\nsys.modules['aiosmtpd'] = None\n"


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def demo(*args: str, cwd: Path = ROOT):
    return run("-m", "inventree_notify_plus", *args, cwd=cwd)


def assert_one_line_error(result, *words: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    assert result.stdout == ""  # nothing ran


# reStructuredText a terminal would show literally: ``literal``, `role`, :role:`x`, "::" blocks.
RST = re.compile(r"`|::$|^\s*\.\. \w", re.MULTILINE)


def assert_plain(text: str) -> None:
    found = RST.search(text)
    assert found is None, f"markup {found.group()!r} in:\n{text}"


def _own_group_with_ctrl_c() -> None:
    """In the child: its own process group (as a terminal's job) and Ctrl-C not ignored.

    A shell without job control starts background commands with SIGINT ignored; a user at a
    terminal has it.
    """
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def press_ctrl_c(*args: str, ready: str, stream: str = "stdout") -> tuple[int, str, str]:
    """Start ``python args``, wait for a line starting with ``ready``, press Ctrl-C.

    SIGINT goes to the whole process group, as a terminal sends it, so child processes get it
    too. Returns the exit status, stdout and stderr, read until every process holding them
    (children included) has gone.
    """
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_own_group_with_ctrl_c,
    )
    seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
    reached, ended = threading.Event(), threading.Event()

    def read(name: str) -> None:
        for line in getattr(proc, name):
            seen[name].append(line)
            if name == stream and line.startswith(ready):
                reached.set()
        if name == stream:
            ended.set()

    readers = [threading.Thread(target=read, args=(name,), daemon=True) for name in seen]
    for reader in readers:
        reader.start()
    try:
        for _ in range(1200):
            if reached.wait(0.1) or ended.is_set():
                break
        assert reached.is_set(), "".join(seen["stdout"] + seen["stderr"])
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for reader in readers:
        reader.join(60)
        assert not reader.is_alive(), "a child process outlived the command"
    return proc.returncode, "".join(seen["stdout"]), "".join(seen["stderr"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), ["required: COMMAND"]),
        (("frobnicate",), ["invalid choice: 'frobnicate'"]),
        (("demo", "--out"), ["expected one argument"]),
        (("demo", "--out", "/etc/passwd"), ["/etc/passwd exists and is not a folder"]),
        (("demo", "--out", "/etc/passwd/inside"), ["cannot write to /etc/passwd/inside"]),
        (("demo", "--out", "/proc/notify-plus"), ["cannot write to /proc/notify-plus"]),
        (("demo", "--burst", "3"), ["unrecognized arguments: --burst 3"]),
    ],
)
def test_notify_plus_bad_input_is_one_line_and_exit_2(args, words):
    assert_one_line_error(demo(*args), *words)


def test_notify_plus_help_describes_the_demo():
    result = demo("demo", "--help")
    assert result.returncode == 0
    assert "--out DIR" in result.stdout and "demo" in result.stdout


@pytest.mark.parametrize("args", [("--help",), ("demo", "--help")])
def test_notify_plus_help_is_plain_text(args):
    result = demo(*args)
    assert result.returncode == 0 and "usage: notify-plus" in result.stdout
    assert_plain(result.stdout)


def test_ctrl_c_ends_the_demo_with_one_line():
    code, out, err = press_ctrl_c("-m", "inventree_notify_plus", "demo", ready="[1/3]")
    assert code == 130
    assert err == "notify-plus: interrupted\n"
    assert "[1/3]" in out and "Everything arrived" not in out


def test_demo_without_the_extra_names_it():
    code = WITHOUT_AIOSMTPD + (
        "import inventree_notify_plus.devtools.standins, inventree_notify_plus.channels\n"
        "from inventree_notify_plus.devtools.cli import main\n"
        "raise SystemExit(main(['demo']))\n"
    )
    result = run("-c", code)
    assert_one_line_error(result, "'demo' extra", "pip install 'inventree-notify-plus[demo]'")


def test_demo_shows_each_step_and_writes_what_arrived(tmp_path):
    out = tmp_path / "payloads"
    result = demo("demo", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Notify Plus demo")  # something from the first second
    steps = [line for line in lines if line.startswith("[")]
    assert [s[:5] for s in steps] == ["[1/3]", "[2/3]", "[3/3]"]
    assert "field   Shortfall: 7 pcs" in result.stdout
    assert "button  Open in InvenTree -> http://inventree.local/part/12/" in result.stdout
    assert "0 fields" not in result.stdout
    assert "Everything arrived as expected" in lines[-1]

    single = json.loads((out / "1-single-slack.json").read_text())
    assert [b["type"] for b in single[0]["blocks"]] == [
        "header",
        "context",
        "section",
        "section",
        "actions",
        "context",
    ]
    embed = json.loads((out / "1-single-discord.json").read_text())[0]["embeds"][0]
    assert len(embed["fields"]) == 6
    digest = json.loads((out / "2-burst-slack.json").read_text())
    assert len(digest) == 1 and digest[0]["blocks"][0]["text"]["text"].startswith("6 notif")
    assert len(list(out.glob("1-single-email-*.eml"))) == 2
    assert len(list(out.glob("3-retried-email-*.eml"))) == 2
    # One signed webhook beside them, verified by the receiver with standardwebhooks.
    hooks = json.loads((out / "1-single-webhook.json").read_text())
    assert [h["type"] for h in hooks] == ["notice.firing"]
    assert hooks[0]["recipients"] == ["alice", "bob"]
    assert "signature verified" in result.stdout


def test_render_previews_help_says_what_it_needs_and_makes_nothing(tmp_path):
    result = run(str(RENDER), "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert_plain(result.stdout)
    text = " ".join(result.stdout.split())
    assert "not screenshots" in text and "apt-get install -y chromium" in text
    assert list(tmp_path.iterdir()) == []


def test_render_previews_without_chromium_is_one_line(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no chromium here
    target = tmp_path / "images"
    result = run(str(RENDER), str(target), env=env)
    assert_one_line_error(result, "needs Chromium", "apt-get install -y chromium")
    assert not target.exists()


def test_render_previews_bad_input_is_one_line():
    assert_one_line_error(run(str(RENDER), "a", "b"), "unrecognized arguments: b")


def test_ci_runs_the_readme_test_command_exactly():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Try it, then test it", 1)[1].split("\n## ", 1)[0]
    commands = [block.split("\n") for block in section.split("```bash\n")[1:]]
    install_and_demo, tests = (next(ln for ln in b if not ln.startswith("#")) for b in commands[:2])
    assert install_and_demo.endswith("notify-plus demo") and "[demo]" in install_and_demo
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()
