"""Low-stock episodes: a condition announced once while it lasts ('part 12 is low since ...').

Each episode is a ``models.Condition`` row keyed by what it is about (``low_stock:part:12``).
InvenTree repeats a low-stock notice every 24 hours while the stock stays low; Notify Plus
announces the start of the condition once, and (if the admin wants) its end.

A condition silences repeats only while its end can be seen. When it cannot (see
``recovery.episode_bound``), it lasts at most ``max_age``: the next notice after that starts
a new episode and is announced, so a part is never kept silent for good.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..models import Condition


def begin(
    key: str,
    detail: dict | None = None,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> tuple[str, bool]:
    """Start (or find) a condition. Returns its episode id and whether it is new.

    ``max_age``: an active condition at least this old counts as ended (a new episode starts);
    None: it lasts until :func:`end`.

    Insert-or-lock without savepoints: ``INSERT ... ON CONFLICT DO NOTHING`` (a racing insert
    waits for the winner's commit and yields), then the row is read under ``select_for_update``;
    the episode token written says whose insert won, so concurrent tasks on PostgreSQL start one
    episode. Runs in the caller's transaction (the lock lasts until the announcement is queued).
    """
    now = now or timezone.now()
    if transaction.get_connection().in_atomic_block:
        return _begin(key, detail, now, max_age)
    with transaction.atomic():
        return _begin(key, detail, now, max_age)


def _begin(
    key: str, detail: dict | None, now: datetime, max_age: timedelta | None
) -> tuple[str, bool]:
    token = uuid.uuid4().hex
    fresh = {**(detail or {}), "ended": False, "episode": token}
    Condition.objects.bulk_create(
        [Condition(key=key, since=now, detail=fresh)], ignore_conflicts=True
    )
    row = Condition.objects.select_for_update().get(key=key)
    if row.detail.get("episode") == token:
        return now.isoformat(), True
    expired = max_age is not None and now - row.since >= max_age
    if not row.detail.get("ended") and not expired:
        return row.since.isoformat(), False
    row.since = now
    row.detail = fresh
    row.save(update_fields=["since", "detail"])
    return now.isoformat(), True


def end(key: str) -> bool:
    """End a condition; True if it was active (so a recovery may be announced)."""
    return bool(
        Condition.objects.filter(key=key, detail__ended=False).update(detail={"ended": True})
    )


def active(prefix: str) -> list[Condition]:
    """Active conditions whose key starts with ``prefix`` (e.g. 'low_stock:part:')."""
    return [
        c for c in Condition.objects.filter(key__startswith=prefix) if not c.detail.get("ended")
    ]
