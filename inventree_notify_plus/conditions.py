"""Conditions announced once while they last ('part 12 is low on stock since ...').

InvenTree repeats a low-stock notice every 24 hours while the stock stays low; Notify Plus
announces the start of the condition once, and (if the admin wants) its end.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Condition


def begin(key: str, detail: dict | None = None, now: datetime | None = None) -> tuple[str, bool]:
    """Start (or find) a condition. Returns its episode id and whether it is new.

    Insert-or-lock: the condition's row is locked (``select_for_update``) before it is read,
    and a first insert that races another one loses on the unique key and then reads the
    winner's row under the lock, so concurrent tasks on PostgreSQL start one episode.
    Runs in the caller's transaction (the lock lasts until the announcement is queued).
    """
    now = now or timezone.now()
    fresh = {**(detail or {}), "ended": False}
    with transaction.atomic():
        row = Condition.objects.select_for_update().filter(key=key).first()
        if row is None:
            try:
                with transaction.atomic():
                    Condition.objects.create(key=key, since=now, detail=fresh)
                return now.isoformat(), True
            except IntegrityError:
                row = Condition.objects.select_for_update().get(key=key)
        if not row.detail.get("ended"):
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
