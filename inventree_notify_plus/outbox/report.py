"""What the outbox did and holds: a drain's report, counts per status, pruning old rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from ..channels.base import SendResult
from ..models import Condition, Delivery, DestinationState, NoticeRecord

Status = Delivery.Status


@dataclass
class DispatchReport:
    """What one dispatcher pass did (for logs, the test action and benchmarks)."""

    messages: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    results: list[SendResult] = field(default_factory=list)
    next_due: datetime | None = None


def counts(since: datetime | None = None) -> dict[str, int]:
    """Deliveries per status (created since ``since`` if given), for the delivery log."""
    result = {s.value: 0 for s in Status}
    rows = Delivery.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    for row in rows.order_by().values("status").annotate(n=Count("id")):
        result[row["status"]] = row["n"]
    return result


def prune(days: int, now: datetime | None = None) -> int:
    """Delete finished deliveries, their notices and ended conditions older than ``days``.

    0 keeps all.
    """
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    done = [Status.SENT, Status.FAILED, Status.SKIPPED, Status.UNKNOWN]
    deleted, _ = Delivery.objects.filter(status__in=done, created_at__lt=cutoff).delete()
    NoticeRecord.objects.filter(created_at__lt=cutoff, deliveries__isnull=True).delete()
    DestinationState.objects.filter(refilled_at__lt=cutoff).exclude(
        destination__in=Delivery.objects.filter(status=Status.PENDING).values("destination")
    ).delete()
    Condition.objects.filter(since__lt=cutoff, detail__ended=True).delete()
    return deleted
