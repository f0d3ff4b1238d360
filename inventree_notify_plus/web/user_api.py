"""Per-user endpoints: each signed-in user's own subscriptions, never anyone else's.

- ``locations/``: my stock-location subscriptions (subscribe, unsubscribe);
- ``here/?model=<part|partcategory|stocklocation>&id=<pk>``: a page's panel: am I subscribed
  here, through which star, and where its notices go;
- ``mine/``: my subscriptions, for 'My notifications'.

Any signed-in user (``permissions.IsOwnUserWithScope``); every view filters by the user.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from . import subscriptions
from .permissions import IsOwnUserWithScope
from .plugin_view import NotifyPlusView


class LocationSubscriptionView(NotifyPlusView):
    """The requesting user's stock-location subscriptions (location managers).

    GET lists them; POST {"location": pk} subscribes to a location and its sublocations;
    DELETE {"location": pk} unsubscribes.
    """

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """My subscribed locations."""
        from ..models import LocationSubscription

        ids = LocationSubscription.objects.filter(user=request.user).values_list(
            "location_id", flat=True
        )
        return Response({"locations": sorted(ids)})

    def post(self, request: Request) -> Response:
        """Subscribe to a location the user may view."""
        from users.permissions import check_user_permission

        from ..models import LocationSubscription

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
        from ..models import LocationSubscription

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


class HereView(NotifyPlusView):
    """A page's panel: my subscription here (through which star) and where its notices go."""

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """``?model=part|partcategory|stocklocation&id=<pk>``."""
        answer = subscriptions.here(
            self.plugin,
            request.user,
            request.query_params.get("model", ""),
            request.query_params.get("id"),
        )
        if answer is None:
            return Response({"error": "no such object you may view"}, status=404)
        return Response(answer)


class MineView(NotifyPlusView):
    """My subscriptions: parts, categories and locations, with links."""

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """Only the requesting user's own."""
        return Response(subscriptions.mine(request.user))
