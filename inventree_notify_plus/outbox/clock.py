"""The database's clock: the one clock every app server and worker shares.

Claims, lease expiry, the waiting drain's lease and pacing are all measured on it, so servers
whose own clocks disagree neither steal live claims nor leave dead ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

CLOCK_RESYNC = 10.0  # seconds between readings of the database's clock (monotonic in between)

# The database's current time. PostgreSQL's now() is the transaction's start; these are the
# time of the call. SQLite is a file on this host: its clock is this host's clock.
_NOW_SQL = {"postgresql": "SELECT CLOCK_TIMESTAMP()", "mysql": "SELECT UTC_TIMESTAMP(6)"}


def database_now() -> datetime:
    """The database server's time now: the one clock every app server shares.

    In Django's form, like ``timezone.now()``: aware (UTC) with ``USE_TZ``, else naive local
    time (InvenTree turns ``USE_TZ`` off in its test mode).
    """
    sql = _NOW_SQL.get(connection.vendor)
    if sql is None:
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # a driver that answers text
        value = datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if timezone.is_naive(value) else value.astimezone(UTC)
    return value if settings.USE_TZ else timezone.make_naive(value)


class DatabaseClock:
    """The dispatcher's clock: the database's time, read once per ``resync`` seconds.

    Between readings it advances with a monotonic timer, so it costs one query per ``resync``
    seconds, not one per timestamp, and a jump of this server's wall clock changes nothing.
    Where the database is a local file (SQLite) it is simply this host's clock.
    """

    def __init__(
        self,
        resync: float = CLOCK_RESYNC,
        source: Callable[[], datetime] = database_now,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resync = resync
        self.source = source
        self.timer = timer
        self._mark: tuple[datetime, float] | None = None  # (database time, timer) at a reading

    def __call__(self) -> datetime:
        """The database's time now."""
        if self.source is database_now and connection.vendor not in _NOW_SQL:
            return timezone.now()
        mark, at = self._mark, self.timer()
        if mark is None or at - mark[1] >= self.resync:
            mark = self._mark = (self.source(), self.timer())
        return mark[0] + timedelta(seconds=max(0.0, self.timer() - mark[1]))
