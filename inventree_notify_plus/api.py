"""Admin endpoints under /plugin/notify-plus/ (InvenTree edge).

- ``deliveries/``: the delivery log (filter by ?status=, ?channel=), with counts per status;
- ``deliveries/<id>/resend/``: requeue a failed or 'outcome unknown' delivery;
- ``test/<channel>/``: send a test notice now and return the channel's exact answer;
- ``preview/?part=<pk>&category=<category>``: which routes, destinations and users a
  notification would reach;
- ``locations/``: each user's own stock-location subscriptions (any signed-in user).

Admins only, except ``locations/``; destinations are masked, webhook URLs never leave the server.
"""

from __future__ import annotations

from dataclasses import replace
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
                {
                    "error": "The delivery log needs Notify Plus's tables: see warnings.",
                    "warnings": _plugin().integration_warnings(),
                },
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
        return Response(
            {
                "counts": outbox.counts(),
                "warnings": _plugin().integration_warnings(),
                "destinations": _plugin().configured_destinations(),
                "results": [_row(d) for d in rows[:limit]],
            }
        )


class ResendView(APIView):
    """Put a failed or 'outcome unknown' delivery back into the outbox (the admin decides).

    A delivery whose worker died mid-send is not resent automatically, because it may have
    arrived; an admin who checked that it did not can send it again here.
    """

    permission_classes = [permissions.IsAdminUser]

    def post(self, request: Request, pk: int) -> Response:
        """Requeue one delivery."""
        from .models import Delivery
        from .tasks import request_drain

        updated = Delivery.objects.filter(
            pk=pk, status__in=[Delivery.Status.FAILED, Delivery.Status.UNKNOWN]
        ).update(
            status=Delivery.Status.PENDING,
            attempts=0,
            due_at=timezone.now(),
            created_at=timezone.now(),
            last_error=f"requeued by {request.user.get_username()}",
        )
        if not updated:
            return Response(
                {"error": "only failed or unknown deliveries can be resent"}, status=400
            )
        request_drain()
        return Response({"requeued": pk})


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
    """What would happen: routes, destinations and users for a part (or a part category).

    ``?part=<pk>`` or ``?part_category=<pk>``, and ``&category=<notification category>``
    (default: low stock). Nothing is sent or stored.
    """

    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        """Dry run of routing."""
        from InvenTree.helpers_model import construct_absolute_url
        from part.models import Part, PartCategory

        from . import inventree_notices
        from .recipients import recipients_for
        from .subscribers import location_managers, part_subscribers

        plugin = _plugin()
        category = request.query_params.get("category", inventree_notices.LOW_STOCK)
        locations: list[int] = []
        try:
            if "part" in request.query_params:
                part = Part.objects.get(pk=int(request.query_params["part"]))
                notice = inventree_notices.low_stock_notice(
                    part, construct_absolute_url(part.get_absolute_url())
                )
                users = part_subscribers(part)
                locations, managers = location_managers(part, users)
                users += managers
            else:
                cat = PartCategory.objects.get(
                    pk=int(request.query_params.get("part_category", ""))
                )
                notice = Notice(
                    uid="preview",
                    category=category,
                    title=f"Preview for {cat.pathstring}",
                    summary="",
                    scope={
                        "part_category_path": [c.pk for c in cat.get_ancestors(include_self=True)]
                    },
                )
                users = cat.get_subscribers()
        except (ValueError, Part.DoesNotExist, PartCategory.DoesNotExist):
            return Response(
                {"error": "give ?part=<pk> or ?part_category=<pk> of an existing object"},
                status=400,
            )
        notice = replace(
            notice, category=category, scope={**notice.scope, "location_path": locations}
        )
        config = plugin.routing_config()
        planned = routing.plan(notice, recipients_for(plugin, users), config, timezone.now())
        return Response(
            {
                "category": category,
                "matching_routes": [
                    i + 1 for i, r in enumerate(config.routes) if r.matches(notice)
                ],
                "deliveries": [
                    {
                        "channel": p.channel,
                        "destination": p.label,
                        "mentions": list(p.mentions),
                        "due": p.due_at.isoformat() if p.due_at else None,
                    }
                    for p in planned
                ],
                "recipients": sorted(u.get_username() for u in users),
            }
        )


class LocationSubscriptionView(APIView):
    """The requesting user's stock-location subscriptions (location managers).

    GET lists them; POST {"location": pk} subscribes to a location and its sublocations;
    DELETE {"location": pk} unsubscribes.
    """

    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request) -> Response:
        """My subscribed locations."""
        from .models import LocationSubscription

        ids = LocationSubscription.objects.filter(user=request.user).values_list(
            "location_id", flat=True
        )
        return Response({"locations": sorted(ids)})

    def post(self, request: Request) -> Response:
        """Subscribe to a location the user may view."""
        from users.permissions import check_user_permission

        from .models import LocationSubscription

        location = self._location(request)
        if location is None:
            return Response(
                {"error": "give {'location': <primary key of a stock location>}"}, status=400
            )
        if not check_user_permission(request.user, location, "view"):
            return Response({"error": "you may not view this stock location"}, status=403)
        LocationSubscription.objects.get_or_create(user=request.user, location_id=location.pk)
        return Response({"subscribed": location.pk, "path": location.pathstring}, status=201)

    def delete(self, request: Request) -> Response:
        """Unsubscribe."""
        from .models import LocationSubscription

        location = self._location(request)
        pk = location.pk if location is not None else request.data.get("location")
        deleted, _ = LocationSubscription.objects.filter(user=request.user, location_id=pk).delete()
        return Response({"unsubscribed": bool(deleted)})

    def _location(self, request: Request) -> Any:
        from stock.models import StockLocation

        try:
            return StockLocation.objects.get(pk=int(request.data.get("location", "")))
        except (TypeError, ValueError, StockLocation.DoesNotExist):
            return None


urlpatterns = [
    path("locations/", LocationSubscriptionView.as_view(), name="locations"),
    path("deliveries/", DeliveryLogView.as_view(), name="deliveries"),
    path("deliveries/<int:pk>/resend/", ResendView.as_view(), name="resend"),
    path("test/<str:channel>/", TestSendView.as_view(), name="test-send"),
    path("preview/", PreviewView.as_view(), name="preview"),
]
