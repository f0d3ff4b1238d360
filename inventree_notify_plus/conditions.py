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
    """Start (or find) a condition. Returns its episode id and whether it is new."""
    now = now or timezone.now()
    existing = Condition.objects.filter(key=key).first()
    if existing and not existing.detail.get("ended"):
        return existing.since.isoformat(), False
    try:
        with transaction.atomic():
            Condition.objects.update_or_create(
                key=key, defaults={"since": now, "detail": {**(detail or {}), "ended": False}}
            )
    except IntegrityError:
        current = Condition.objects.get(key=key)
        return current.since.isoformat(), False
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
