"""Admin endpoints under /plugin/notify-plus/ (InvenTree edge).

- ``deliveries/``: the delivery log (filter by ?status=, ?channel=), with counts per status;
- ``deliveries/<id>/resend/``: requeue a failed or 'outcome unknown' delivery;
- ``test/<channel>/``: send a test notice now and return the channel's exact answer;
- ``preview/?part=<pk>&category=<category>``: which routes, destinations and users a
  notification would reach;
- ``locations/``: each user's own stock-location subscriptions (any signed-in user);
- ``health/``: integrations off, migrations missing, email handover, last 24 h by status;
- ``routes/`` (GET rows, POST ``validate``): the routes editor, validated with the same
  ``parse_routes`` the ROUTES setting's validator runs on save;
- ``pick/``: the name of a part category or stock location picked in the routes editor;
- ``here/?model=<part|partcategory|stocklocation>&id=<pk>``: the page panel (any signed-in user);
- ``mine/``: my subscriptions (any signed-in user).

Admins only, except ``locations/``, ``here/`` and ``mine/`` (each user's own); destinations
are masked, webhook URLs and other users' addresses never leave the server.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.urls import path
from django.utils import timezone
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import routing, ui
from .notice import Fact, Notice, Severity, stable_uid

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


def _plugin() -> Any:
    from plugin import registry

    return registry.get_plugin("notify-plus")


def _row(d: Any) -> dict[str, Any]:
    return {
        "pk": d.pk,
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
                "counts": outbox.counts(since=since),
                "counts_since": since.isoformat(),
                "warnings": _plugin().integration_warnings(),
                "destinations": _plugin().configured_destinations(),
                "results": [_row(d) for d in rows[offset : offset + limit]],
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


class HealthView(APIView):
    """Health at a glance for the admin console: what is off, what it costs, what happened."""

    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        """Integrations, migrations, email handover, the last 24 h by status."""
        from .email_consent import summary

        plugin = _plugin()
        counts: dict[str, int] | None = None
        if plugin.outbox_ready():
            from django.db.models import Count

            from .models import Delivery

            since = timezone.now() - timedelta(hours=24)
            counts = {s.value: 0 for s in Delivery.Status}
            for row in (
                Delivery.objects.filter(created_at__gte=since)
                .values("status")
                .annotate(n=Count("id"))
            ):
                counts[row["status"]] = row["n"]
        return Response(
            {
                "enabled": bool(plugin.get_setting("NOTIFICATIONS_ENABLE", cache=False)),
                "warnings": plugin.integration_warnings(),
                "outbox_ready": plugin.outbox_ready(),
                "email_enabled": bool(plugin.get_setting("EMAIL_ENABLE", cache=False)),
                "email": summary(plugin),
                "last_24h": counts,
                "destinations": plugin.configured_destinations(),
            }
        )


class RoutesView(APIView):
    """The routes editor: rows, the lists to pick from, and validation as the admin edits.

    Saving goes through InvenTree's plugin settings API (``ROUTES``), whose validator runs the
    same ``parse_routes`` with the same destinations, so the errors are the same.
    """

    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        """Rows of the stored routes, with names for the objects they name."""
        plugin = _plugin()
        text = plugin.get_setting("ROUTES", cache=False) or ""
        rows = ui.route_rows(text)
        return Response(
            {
                "routes": rows,
                "names": ui.names_for(rows),
                "categories": ui.notification_categories(),
                "destinations": plugin.configured_destinations(),
                "error": _routes_error(plugin, text),
            }
        )

    def post(self, request: Request) -> Response:
        """Validate rows: ``{"routes": [...]}`` -> the JSON the setting would store, or the error."""
        plugin = _plugin()
        rows = request.data.get("routes")
        if not isinstance(rows, list):
            return Response({"error": "give {'routes': [rows]}"}, status=400)
        text = ui.rows_to_text([r for r in rows if isinstance(r, dict)])
        error = _routes_error(plugin, text)
        return Response({"valid": error is None, "error": error, "value": text})


def _routes_error(plugin: Any, text: str) -> str | None:
    from django.core.exceptions import ValidationError

    known = [d.key for d in plugin.routing_config().destinations]
    try:
        routing.parse_routes(text, known)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


class PickView(APIView):
    """Name what an admin picked with InvenTree's related-model field (routes editor, preview).

    InvenTree's form modal posts the picked primary key here; errors come back per field, the
    way InvenTree's forms show them.
    """

    permission_classes = [permissions.IsAdminUser]

    def post(self, request: Request) -> Response:
        """``{"part_category"|"location"|"part": pk}`` -> its primary key and name."""
        from part.models import Part, PartCategory
        from stock.models import StockLocation

        for key, model in (
            ("part_category", PartCategory),
            ("location", StockLocation),
            ("part", Part),
        ):
            if request.data.get(key) not in (None, ""):
                try:
                    obj = model.objects.get(pk=int(request.data[key]))
                except (TypeError, ValueError, model.DoesNotExist):
                    return Response({key: ["Pick an existing entry."]}, status=400)
                name = obj.full_name if key == "part" else obj.pathstring
                return Response({"field": key, "pk": obj.pk, "name": name})
        return Response({"non_field_errors": ["Pick a category, location or part."]}, status=400)


class HereView(APIView):
    """A page's panel: my subscription here (through which star) and where its notices go."""

    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request) -> Response:
        """``?model=part|partcategory|stocklocation&id=<pk>``."""
        answer = ui.here(
            _plugin(),
            request.user,
            request.query_params.get("model", ""),
            request.query_params.get("id"),
        )
        if answer is None:
            return Response({"error": "no such object you may view"}, status=404)
        return Response(answer)


class MineView(APIView):
    """My subscriptions: parts, categories and locations, with links."""

    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request) -> Response:
        """Only the requesting user's own."""
        return Response(ui.mine(request.user))


urlpatterns = [
    path("locations/", LocationSubscriptionView.as_view(), name="locations"),
    path("deliveries/", DeliveryLogView.as_view(), name="deliveries"),
    path("deliveries/<int:pk>/resend/", ResendView.as_view(), name="resend"),
    path("test/<str:channel>/", TestSendView.as_view(), name="test-send"),
    path("preview/", PreviewView.as_view(), name="preview"),
    path("health/", HealthView.as_view(), name="health"),
    path("routes/", RoutesView.as_view(), name="routes"),
    path("pick/", PickView.as_view(), name="pick"),
    path("here/", HereView.as_view(), name="here"),
    path("mine/", MineView.as_view(), name="mine"),
]
