"""Command-line arguments of the devtools and scripts: checked before any work starts.

Anything a user can type gets a one-line answer and exit status 2, never a traceback, and a
bad output folder is refused before a demo or a rendering runs, not after.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit 2), pointing to --help."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` alone; the usage is one ``--help`` away."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
