"""Admin endpoints under /plugin/notify-plus/ (InvenTree edge).

- ``deliveries/``: the delivery log (filter by ?status=, ?channel=), with counts per status;
- ``test/<channel>/``: send a test notice now and return the channel's exact answer;
- ``preview/?part=<pk>&category=<category>``: which routes, destinations and users a
  notification would reach.

Admins only; destinations are masked, webhook URLs never leave the server.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from django.utils import timezone
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import routing
from .notice import Fact, Notice, Severity, stable_uid

MAX_ROWS = 500


def _plugin() -> Any:
    from plugin import registry

    return registry.get_plugin("notify-plus")


def _row(d: Any) -> dict[str, Any]:
    return {
        "id": d.pk,
        "channel": d.channel,
        "destination": d.destination_label,
        "notification": d.title,
        "category": d.category,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created": d.created_at.isoformat(),
        "due": d.due_at.isoformat(),
        "sent": d.sent_at.isoformat() if d.sent_at else None,
        "updated": d.updated_at.isoformat(),
    }


class DeliveryLogView(APIView):
    """The delivery log, newest first, with counts per status."""

    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        """List deliveries."""
        if not _plugin().outbox_ready():
            return Response(
                {"error": "The delivery log needs InvenTree's 'Enable app integration' setting."},
                status=409,
            )
        from . import outbox
        from .models import Delivery

        rows = Delivery.objects.order_by("-created_at", "-id")
        if status := request.query_params.get("status"):
            rows = rows.filter(status=status)
        if channel := request.query_params.get("channel"):
            rows = rows.filter(channel=channel)
        try:
            limit = min(MAX_ROWS, max(1, int(request.query_params.get("limit", 100))))
        except ValueError:
            limit = 100
        return Response({"counts": outbox.counts(), "results": [_row(d) for d in rows[:limit]]})


class TestSendView(APIView):
    """Send a test notice to one destination now and return the channel's answer."""

    permission_classes = [permissions.IsAdminUser]

    def post(self, request: Request, channel: str) -> Response:
        """Send synchronously: the admin is waiting for the answer."""
        from .channels.base import Skip
        from .directory import SettingsDirectory
        from .tasks import channels

        plugin = _plugin()
        if channel not in ("email", "slack", "discord"):
            return Response({"error": "channel must be email, slack or discord"}, status=400)
        name = str(request.data.get("destination", "default"))
        key = f"email:user:{request.user.pk}" if channel == "email" else f"{channel}:{name}"
        destination = SettingsDirectory(plugin.routing_config()).resolve(key)
        if isinstance(destination, Skip):
            return Response({"outcome": "not sent", "detail": destination.reason}, status=400)
        notice = Notice(
            uid=stable_uid("test", timezone.now().isoformat()),
            category="notify_plus.test",
            title="Notify Plus test message",
            summary=f"Sent by {request.user.get_username()} to check this {channel} destination.",
            severity=Severity.INFO,
            facts=(Fact("Destination", destination.label),),
        )
        result = channels()[channel].send(destination, [notice])
        return Response(
            {
                "outcome": str(result.outcome),
                "status": result.status,
                "detail": result.detail,
                "retry_after": result.retry_after,
                "destination": destination.label,
            }
        )


class PreviewView(APIView):
    """What would happen: routes, destinations and users for a part and a category."""

    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        """Dry run of routing for ?part=<pk>&category=<category>."""
        from InvenTree.helpers_model import construct_absolute_url
        from part.models import Part

        from . import inventree_notices
        from .intake import recipients_for
        from .subscribers import part_subscribers

        plugin = _plugin()
        try:
            part = Part.objects.get(pk=int(request.query_params.get("part", "")))
        except (ValueError, Part.DoesNotExist):
            return Response({"error": "give ?part=<primary key of an existing part>"}, status=400)
        category = request.query_params.get("category", inventree_notices.LOW_STOCK)
        notice = inventree_notices.low_stock_notice(
            part, construct_absolute_url(part.get_absolute_url())
        )
        notice = Notice(**{**notice.__dict__, "category": category})
        config = plugin.routing_config()
        matched = [i + 1 for i, r in enumerate(config.routes) if r.matches(notice)]
        users = part_subscribers(part)
        planned = routing.plan(notice, recipients_for(plugin, users, {}), config, timezone.now())
        return Response(
            {
                "part": part.pk,
                "category": category,
                "matching_routes": matched,
                "deliveries": [
                    {
                        "channel": p.channel,
                        "destination": p.label,
                        "mentions": list(p.mentions),
                        "due": p.due_at.isoformat() if p.due_at else None,
                    }
                    for p in planned
                ],
                "subscribers": [u.get_username() for u in users],
            }
        )


urlpatterns = [
    path("deliveries/", DeliveryLogView.as_view(), name="deliveries"),
    path("test/<str:channel>/", TestSendView.as_view(), name="test-send"),
    path("preview/", PreviewView.as_view(), name="preview"),
]
