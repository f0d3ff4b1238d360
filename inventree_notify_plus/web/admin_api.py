"""Staff endpoints for running Notify Plus: the delivery log, resends and health.

- ``deliveries/``: the delivery log (filter by ?status=, ?channel=), with counts per status;
- ``deliveries/<id>/resend/``: requeue a failed or 'outcome unknown' delivery;
- ``health/``: integrations off, migrations missing, email handover, last 24 h by status,
  destinations whose deliveries have all failed for 24 h (``outbox.failing``).

Staff only (``permissions.IsStaffWithScope``); destinations are masked, webhook URLs and other
users' addresses never leave the server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from .plugin_view import NotifyPlusView

MAX_COUNT = 10_000
MAX_ROWS = 500
# Sortable columns of the delivery log: the table's accessor -> the model field.
ORDERING = {
    "id": "id",
    "notification": "title",
    "category": "category",
    "channel": "channel",
    "destination": "destination_label",
    "status": "status",
    "attempts": "attempts",
    "created": "created_at",
    "due": "due_at",
    "sent": "sent_at",
    "updated": "updated_at",
}


def _int(value: Any, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(value)))
    except (TypeError, ValueError):
        return default


def _row(d: Any) -> dict[str, Any]:
    return {
        "pk": d.pk,
        "id": d.pk,
        "channel": d.channel,
        "kind": d.kind,  # notice, or a follow-up: update (an edit) / reply (in the thread)
        "destination": d.destination_label,
        "notification": d.title,
        "category": d.category,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "resent": _resent(d),
        "created": d.created_at.isoformat(),
        "due": d.due_at.isoformat(),
        "sent": d.sent_at.isoformat() if d.sent_at else None,
        "updated": d.updated_at.isoformat(),
    }


def _resent(d: Any) -> str:
    """'resent by <user> at <time>' for each resend, newest last ('' if never resent)."""
    return "; ".join(
        f"resent by {r.get('by', '?')} at {r.get('at', '?')[:16].replace('T', ' ')} UTC"
        f" (was {r.get('status', '?')})"
        for r in (d.resends or [])
    )


class DeliveryLogView(NotifyPlusView):
    """The delivery log, newest first, with counts per status."""

    def get(self, request: Request) -> Response:
        """List deliveries."""
        if not self.plugin.outbox_ready():
            return Response(
                {
                    "error": "The delivery log needs Notify Plus's tables: see warnings.",
                    "warnings": self.plugin.integration_warnings(),
                },
                status=409,
            )
        from ..models import Delivery
        from ..outbox.report import counts

        params = request.query_params
        rows = Delivery.objects.all()
        if status := params.get("status"):
            rows = rows.filter(status=status)
        if channel := params.get("channel"):
            rows = rows.filter(channel=channel)
        if destination := params.get("destination"):
            rows = rows.filter(destination=destination)
        if search := params.get("search", "").strip():
            rows = rows.filter(
                Q(title__icontains=search)
                | Q(category__icontains=search)
                | Q(destination_label__icontains=search)
            )
        ordering = params.get("ordering", "")
        field = ORDERING.get(ordering.lstrip("-"))
        if field:
            rows = rows.order_by(f"-{field}" if ordering.startswith("-") else field, "-id")
        else:
            rows = rows.order_by("-created_at", "-id")
        limit = _int(params.get("limit"), 100, 1, MAX_ROWS)
        offset = _int(params.get("offset"), 0, 0, 10**9)
        since = timezone.now() - timedelta(hours=24)
        return Response(
            {
                # Counting a million rows on every page costs more than the page: the total is
                # counted up to what paging can reach, the per-status counts over the last day.
                "count": rows[: offset + limit + MAX_COUNT].count(),
                "counts": counts(since=since),
                "counts_since": since.isoformat(),
                "warnings": self.plugin.integration_warnings(),
                "destinations": self.plugin.configured_destinations(),
                "results": [_row(d) for d in rows[offset : offset + limit]],
            }
        )


class ResendView(NotifyPlusView):
    """Put a failed or 'outcome unknown' delivery back into the outbox (the admin decides).

    A delivery whose worker died mid-send is not resent automatically, because it may have
    arrived; an admin who checked that it did not can send it again here.
    """

    def post(self, request: Request, pk: int) -> Response:
        """Requeue one delivery; its created_at stays, the resend is recorded on the row."""
        from ..inventree.wakeup import request_drain
        from ..models import Delivery

        resendable = (Delivery.Status.FAILED, Delivery.Status.UNKNOWN)
        now = timezone.now()
        who = request.user.get_username()
        with transaction.atomic():
            row = Delivery.objects.select_for_update().filter(pk=pk).first()
            if row is None:
                return Response({"error": f"no delivery {pk}"}, status=404)
            if row.status not in resendable:
                return Response(
                    {
                        "error": f"only failed or unknown deliveries can be resent "
                        f"(this one is {row.status})"
                    },
                    status=400,
                )
            row.resends = [
                *(row.resends or []),
                {
                    "by": who,
                    "at": now.isoformat(),
                    "status": row.status,
                    "attempts": row.attempts,
                    "error": row.last_error[:500],
                },
            ]
            row.last_error = f"resent by {who} at {now:%Y-%m-%d %H:%M} UTC (was {row.status})"
            row.status = Delivery.Status.PENDING
            row.attempts = 0
            row.due_at = now
            row.first_due_at = now  # the retry window starts again; created_at stays
            row.claim_token = ""
            row.save(
                update_fields=[
                    "resends",
                    "last_error",
                    "status",
                    "attempts",
                    "due_at",
                    "first_due_at",
                    "claim_token",
                    "updated_at",
                ]
            )
        request_drain()
        return Response({"requeued": pk, "resent": _resent(row)})


class HealthView(NotifyPlusView):
    """Health at a glance for the admin console: what is off, what it costs, what happened."""

    def get(self, request: Request) -> Response:
        """Integrations, migrations, email handover, the last 24 h by status."""
        from ..inventree.consent import summary
        from ..inventree.core_slack import inventree_slack

        plugin = self.plugin
        counts: dict[str, int] | None = None
        if plugin.outbox_ready():
            from django.db.models import Count

            from ..models import Delivery

            since = timezone.now() - timedelta(hours=24)
            counts = {s.value: 0 for s in Delivery.Status}
            for row in (
                Delivery.objects.filter(created_at__gte=since)
                .values("status")
                .annotate(n=Count("id"))
            ):
                counts[row["status"]] = row["n"]
        warnings = plugin.integration_warnings()
        failing: list[dict[str, Any]] = []
        if plugin.outbox_ready():
            # --- webhooks --- a destination whose deliveries have all failed for 24 h.
            from ..outbox.failing import failing_destinations

            found = failing_destinations(timezone.now())
            warnings += [f.warning() for f in found]
            failing = [f.as_dict() for f in found]
        return Response(
            {
                "enabled": bool(plugin.get_setting("NOTIFICATIONS_ENABLE", cache=False)),
                "warnings": warnings,
                "failing_destinations": failing,
                "inventree_slack": {
                    **(slack := inventree_slack()).as_dict(),
                    "warning": slack.warning if slack.active else None,
                    # InvenTree's activate endpoint is for superusers only
                    "can_deactivate": bool(request.user.is_superuser),
                },
                "outbox_ready": plugin.outbox_ready(),
                "email_enabled": bool(plugin.get_setting("EMAIL_ENABLE", cache=False)),
                "email": summary(plugin),
                "last_24h": counts,
                "destinations": plugin.configured_destinations(),
            }
        )
