"""Command-line arguments of the devtools and scripts: checked before any work starts.

Anything a user can type gets a one-line answer and exit status 2, never a traceback: numbers
outside their range, a database URL that does not parse or a database that does not answer, a
command that cannot run, a port already taken, a bad output folder. Each check is an argparse
``type=`` function, so every script shares them and argparse names the option in the message.
Ctrl-C ends a command with one line and exit status 130 (``run_main``).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 5  # seconds to wait for a database before calling it unreachable
LOOPBACK = "127.0.0.1"
INTERRUPTED = 130  # the shell's status for a command ended by SIGINT (128 + 2)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit 2), pointing to --help.

    Its description is shown as written (the docstrings of the scripts are plain text laid out
    for a terminal), and its ``prog`` defaults to the name the script was started as.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` alone; the usage is one ``--help`` away."""
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def one_line(text: str) -> str:
    """``text`` on one line: lines joined with spaces, runs of blanks collapsed."""
    return " ".join(text.split())


def run_main(main: Callable[[], int], prog: str | None = None) -> int:
    """Run a command's ``main``: Ctrl-C ends it with one line and 130, a closed pipe quietly.

    Context managers inside ``main`` (stand-ins, temporary folders) still close on the way out.
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        return main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# -- numbers ---------------------------------------------------------------------------------


def _range(low: float, high: float | None, above: bool, below: bool) -> str:
    if high is None:
        return f"above {low:g}" if above else f"of at least {low:g}"
    return f"from {'above ' if above else ''}{low:g} to {'below ' if below else ''}{high:g}"


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (both included)."""
    wanted = f"a whole number {_range(low, high, False, False)}"

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"expected {wanted}, not {value!r}")
        return number

    return parse


def number(
    low: float, high: float | None = None, *, above: bool = False, below: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number from ``low`` to ``high``; ``above``/``below`` exclude them."""
    wanted = f"a number {_range(low, high, above, below)}"

    def parse(value: str) -> float:
        try:
            got = float(value)
        except ValueError:
            got = math.nan
        fits = (
            math.isfinite(got)
            and (got > low if above else got >= low)
            and (high is None or (got < high if below else got <= high))
        )
        if not fits:
            raise argparse.ArgumentTypeError(f"expected {wanted}, not {value!r}")
        return got

    return parse


positive_int = whole_number(1)
non_negative_int = whole_number(0)
port_number = whole_number(1, 65535)
positive_float = number(0, above=True)
non_negative_float = number(0)
fraction = number(0, 1, below=True)  # a share of requests that fail: 1 would never deliver


def whole_numbers(low: int = 1) -> Callable[[str], list[int]]:
    """An argparse type: whole numbers of at least ``low``, separated by commas (``1,100``)."""
    item = whole_number(low)

    def parse(value: str) -> list[int]:
        try:
            return [item(part.strip()) for part in value.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected whole numbers of at least {low} separated by commas, not {value!r}"
            ) from None

    return parse


def names_from(*choices: str) -> Callable[[str], list[str]]:
    """An argparse type: one or more of ``choices``, separated by commas, in the order given."""

    def parse(value: str) -> list[str]:
        names = [part.strip() for part in value.split(",")]
        unknown = [name for name in names if name not in choices]
        if unknown or not value.strip():
            raise argparse.ArgumentTypeError(
                f"expected one or more of {', '.join(choices)} separated by commas, not {value!r}"
            )
        return list(dict.fromkeys(names))

    return parse


def free_port(value: str) -> int:
    """An argparse type: a port number that nothing on loopback listens on yet."""
    port = port_number(value)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the stand-ins bind
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise argparse.ArgumentTypeError(f"port {port} on {LOOPBACK}: {reason}") from None
    return port


# -- PostgreSQL ------------------------------------------------------------------------------

URL_FORM = "postgresql://user:password@host:5432/name"


def shown_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: safe to print."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "the URL given"
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def postgres_url(value: str) -> str:
    """An argparse type: a PostgreSQL URL that names a database (not yet connected to)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{shown_url(value)} has a bad host or port; expected {URL_FORM}"
        ) from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise argparse.ArgumentTypeError(
            f"not a PostgreSQL URL: {shown_url(value)!r}; expected {URL_FORM}"
        )
    if not parts.path.strip("/"):
        raise argparse.ArgumentTypeError(
            f"{shown_url(value)} names no database; expected {URL_FORM}"
        )
    if port == 0:
        raise argparse.ArgumentTypeError(f"{shown_url(value)}: port 0; expected {URL_FORM}")
    return value


def postgres_connection(url: str, **options: Any) -> Any:
    """A psycopg connection to ``url``, read as the devtools' Django settings read it."""
    import psycopg

    from .standalone import database

    settings = database("", url)
    params = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "host": settings["HOST"],
        "port": settings["PORT"],
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, **options)


def reachable_postgres(value: str) -> str:
    """An argparse type: a PostgreSQL URL whose database answers (one connection, then closed)."""
    url = postgres_url(value)
    try:
        import psycopg
    except ImportError:
        raise argparse.ArgumentTypeError(
            "a PostgreSQL database needs psycopg: pip install 'psycopg[binary]'"
        ) from None
    try:
        postgres_connection(url, connect_timeout=CONNECT_TIMEOUT).close()
    except psycopg.Error as exc:
        reason = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise argparse.ArgumentTypeError(
            f"cannot connect to {shown_url(url)}: {one_line(reason)}"
        ) from None
    return url


# -- commands and folders --------------------------------------------------------------------


def command_line(value: str) -> list[str]:
    """An argparse type: a command line (split as a shell would) whose program can run."""
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split {value!r}: {exc}") from None
    if not argv:
        raise argparse.ArgumentTypeError("an empty command")
    if shutil.which(argv[0]) is None:
        program = Path(argv[0])
        if os.sep in argv[0] and program.exists():
            raise argparse.ArgumentTypeError(f"{argv[0]} is not an executable file")
        raise argparse.ArgumentTypeError(f"command not found: {argv[0]}")
    return argv


def writable_dir(value: str) -> Path:
    """An argparse type: a folder that exists or can be made, and that we can write into.

    Checked by writing a probe file, since ``os.access`` says yes to root even on a read-only
    file system.
    """
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise argparse.ArgumentTypeError(f"cannot write to {value}: {reason}") from None
    return path
