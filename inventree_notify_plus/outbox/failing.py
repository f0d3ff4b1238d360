"""Destinations that have failed for a day, which Health names (InvenTree #2038's warning).

InvenTree #2038 asks to "warn if a hook fails a lot".

A destination is *failing* when every delivery to it has failed for at least ``hours``: it has
failures (failed for good, or retrying after a failed attempt) the oldest of which is older than
``hours`` and came after its last success, and nothing was sent to it within ``hours``. Any kind
counts: a signed webhook, a Slack or Discord channel, a person's mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q

from ..models import Delivery

Status = Delivery.Status
FAILING_HOURS = 24
# Health names at most this many; a broken mail server would otherwise list every person.
MAX_LISTED = 20


def _failure() -> Q:
    return Q(status=Status.FAILED) | Q(status=Status.PENDING, attempts__gt=0)


@dataclass(frozen=True)
class FailingDestination:
    """One destination that has failed for ``hours``: what Health says about it."""

    destination: str
    label: str
    failing_since: datetime
    last_sent: datetime | None
    failures: int
    last_error: str

    def warning(self, hours: int = FAILING_HOURS) -> str:
        """The sentence Health shows (labels and errors are masked and scrubbed already)."""
        last = (
            f"last success {self.last_sent:%Y-%m-%d %H:%M} UTC" if self.last_sent else "never sent"
        )
        error = f"; last error: {self.last_error[:200]}" if self.last_error else ""
        return (
            f"{self.label or self.destination}: every delivery has failed for over {hours} h "
            f"(failing since {self.failing_since:%Y-%m-%d %H:%M} UTC, {last}, "
            f"{self.failures} failed or retrying){error}"
        )

    def as_dict(self) -> dict[str, object]:
        """For the Health API."""
        return {
            "destination": self.destination,
            "label": self.label,
            "failing_since": self.failing_since.isoformat(),
            "last_sent": self.last_sent.isoformat() if self.last_sent else None,
            "failures": self.failures,
            "last_error": self.last_error,
        }


def failing_destinations(now: datetime, hours: int = FAILING_HOURS) -> list[FailingDestination]:
    """Destinations with failures for over ``hours`` and no success within them, worst first."""
    since = now - timedelta(hours=hours)
    recent = (
        Delivery.objects.filter(_failure(), updated_at__gte=since)
        .values_list("destination", flat=True)
        .distinct()
    )
    per_destination = (
        Delivery.objects.filter(destination__in=recent)
        .values("destination")
        .annotate(last_sent=Max("sent_at", filter=Q(status=Status.SENT)))
        .filter(Q(last_sent__isnull=True) | Q(last_sent__lt=since))
    )
    found: list[FailingDestination] = []
    for entry in per_destination:
        failures = Delivery.objects.filter(_failure(), destination=entry["destination"])
        if entry["last_sent"] is not None:
            failures = failures.filter(updated_at__gt=entry["last_sent"])
        summary = failures.aggregate(first=Min("created_at"), n=Count("id"))
        if summary["first"] is None or summary["first"] > since:
            continue
        latest = failures.order_by("-updated_at", "-id").first()
        found.append(
            FailingDestination(
                destination=entry["destination"],
                label=latest.destination_label if latest else "",
                failing_since=summary["first"],
                last_sent=entry["last_sent"],
                failures=summary["n"],
                last_error=latest.last_error if latest else "",
            )
        )
    found.sort(key=lambda f: f.failing_since)
    return found[:MAX_LISTED]
