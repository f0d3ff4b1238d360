"""Tests reach loopback only: a name lookup of any other host fails at once, loudly.

Installed by ring 1 (``conftest.py``) and ring 2 (``ring2/__init__.py``). Nothing may reach Slack,
Discord, Apprise services or a real mail server; without this guard a test whose destination
is a real-looking URL would quietly try the network (and pass on a DNS failure).
"""

from __future__ import annotations

import socket

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "", None})
_real_getaddrinfo = socket.getaddrinfo


class NotLoopback(socket.gaierror):
    """A test tried to resolve a host that is not this machine."""


def _getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    name = host.decode() if isinstance(host, bytes) else host
    if name not in LOOPBACK and not str(name).startswith("127."):
        raise NotLoopback(socket.EAI_NONAME, f"tests may only reach loopback, not {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    """Refuse every name lookup but loopback's, for the rest of this process."""
    socket.getaddrinfo = _getaddrinfo
