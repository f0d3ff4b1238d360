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

Staff only, except ``locations/``, ``here/`` and ``mine/`` (each user's own); destinations
are masked, webhook URLs and other users' addresses never leave the server. Permissions follow
InvenTree's token and OAuth2 scopes (``InvenTree.permissions``): an OAuth2 token needs
``g:read`` to read and ``a:staff`` to change (resend, test send), on top of the user's own
rights. A Notify Plus that is not active or not loaded answers 503 with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import path
from django.utils import timezone
from InvenTree.permissions import OASTokenMixin, map_scope
from oauth2_provider.contrib.rest_framework import TokenMatchesOASRequirements
from rest_framework import permissions
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from users.oauth2_scopes import DEFAULT_READ, DEFAULT_STAFF

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


SLUG = "notify-plus"


class PluginUnavailable(APIException):
    """Notify Plus is not active or failed to load: the endpoints cannot answer (yet)."""

    status_code = 503
    default_code = "plugin_unavailable"
    default_detail = "Notify Plus is not available."


def _plugin() -> Any:
    """The active plugin instance, or a 503 that says why there is none."""
    from plugin import registry

    plugin = registry.get_plugin(SLUG)
    if plugin is not None:
        return plugin
    if registry.get_plugin(SLUG, active=None) is not None:
        raise PluginUnavailable(
            "Notify Plus is installed but not active: activate it in Settings > Plugins."
        )
    raise PluginUnavailable(
        "Notify Plus is not loaded in this InvenTree process (plugin loading failed or plugins "
        "are disabled): see Settings > Plugins and InvenTree's error log."
    )


# -- permissions: InvenTree's rules, with an OAuth2 token's scopes enforced ------------------


class _TokenScopes(TokenMatchesOASRequirements):
    """django-oauth-toolkit's scope check with the scopes given here, not read from the view."""

    def __init__(self, scopes: dict) -> None:
        self.scopes = scopes

    def get_required_alternate_scopes(self, request: Request, view: Any) -> dict:
        return self.scopes


class _ScopedPermission(OASTokenMixin, permissions.BasePermission):
    """The user's own rights AND, for an OAuth2 token, the scopes below.

    InvenTree's ``*Scope`` classes accept either the token's scopes or the user's rights, so a
    staff user's read-only token passes wherever staff may write; here both must hold. API
    tokens and sessions carry no scopes: the user's rights alone decide, as in InvenTree.
    """

    def user_allowed(self, request: Request, view: Any) -> bool:
        """The rule for the user behind the request, however they authenticated."""
        raise NotImplementedError

    def has_permission(self, request: Request, view: Any) -> bool:
        """User rule first, then the token's scopes when it is an OAuth2 token."""
        if not (request.user and request.user.is_authenticated):
            return False
        if not self.user_allowed(request, view):
            return False
        if self.is_oauth2ed(request):
            scopes = self.get_required_alternate_scopes(request, view)
            return _TokenScopes(scopes).has_permission(request, view)
        return True


class IsStaffWithScope(_ScopedPermission):
    """Staff users (as InvenTree's ``IsAdminOrAdminScope`` for its admin endpoints).

    With an OAuth2 token: ``g:read`` to read, ``a:staff`` to change anything (resend, test
    send), the mapping of InvenTree's ``IsStaffOrReadOnlyScope``.
    """

    message = (
        "Staff only; with an OAuth2 token also the scope 'a:staff' to change (resend, test "
        "send) or 'g:read' to read."
    )

    def user_allowed(self, request: Request, view: Any) -> bool:
        """Staff users (and superusers, who may do anything in InvenTree)."""
        return bool(request.user.is_staff or request.user.is_superuser)

    def get_required_alternate_scopes(self, request: Request, view: Any) -> dict:
        """GET/HEAD need g:read; POST and the rest need a:staff (InvenTree's map_scope)."""
        scopes = map_scope(
            only_read=True,
            read_name=DEFAULT_STAFF,
            map_read=list(permissions.SAFE_METHODS),
            map_read_name=DEFAULT_READ,
        )
        return {**scopes, "HEAD": scopes["GET"]}


class IsOwnUserWithScope(_ScopedPermission):
    """Any signed-in user, for their own subscriptions only (the views filter by the user).

    With an OAuth2 token: ``g:read``, as InvenTree's own per-user settings endpoints ask.
    """

    def user_allowed(self, request: Request, view: Any) -> bool:
        """Every signed-in user; what they see and change is their own."""
        return True

    def get_required_alternate_scopes(self, request: Request, view: Any) -> dict:
        """g:read for every method (InvenTree's ``UserSettingsPermissionsOrScope``)."""
        scopes = map_scope(only_read=True)
        return {**scopes, "HEAD": scopes["GET"]}


class NotifyPlusView(APIView):
    """An endpoint of the active Notify Plus: 503 with the reason when there is none."""

    permission_classes = [IsStaffWithScope]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: find the plugin (503 if it is not there)."""
        super().initial(request, *args, **kwargs)
        self.plugin = _plugin()


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
        from .models import Delivery
        from .tasks import request_drain

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


class TestSendView(NotifyPlusView):
    """Send a test notice to one destination now and return the channel's answer."""

    def post(self, request: Request, channel: str) -> Response:
        """Send synchronously: the admin is waiting for the answer."""
        from .channels.base import Skip
        from .directory import SettingsDirectory
        from .tasks import channels

        plugin = self.plugin
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
        sender = channels()[channel]
        if plugin.outbox_ready():
            from math import ceil

            from .outbox import take_token

            wait = take_token(key, sender)
            if wait > 0:
                seconds = max(1, ceil(wait))
                return Response(
                    {
                        "outcome": "rate limited",
                        "status": None,
                        "detail": f"not sent: {destination.label} is at its rate limit "
                        f"(shared with the notices being delivered); retry in {seconds} s",
                        "retry_after": seconds,
                        "destination": destination.label,
                    },
                    status=429,
                    headers={"Retry-After": str(seconds)},
                )
        result = sender.send(destination, [notice])
        return Response(
            {
                "outcome": str(result.outcome),
                "status": result.status,
                "detail": result.detail,
                "retry_after": result.retry_after,
                "destination": destination.label,
            }
        )


class PreviewView(NotifyPlusView):
    """What would happen: routes, destinations and users for a part (or a part category).

    ``?part=<pk>`` or ``?part_category=<pk>``, and ``&category=<notification category>``
    (default: low stock). Nothing is sent or stored.
    """

    def get(self, request: Request) -> Response:
        """Dry run of routing."""
        from InvenTree.helpers_model import construct_absolute_url
        from part.models import Part, PartCategory

        from . import inventree_notices
        from .recipients import recipients_for
        from .subscribers import location_managers, part_subscribers

        plugin = self.plugin
        category = request.query_params.get("category", inventree_notices.LOW_STOCK)
        locations: list[int] = []
        try:
            if "part" in request.query_params:
                part = Part.objects.get(pk=int(request.query_params["part"]))
                notice = inventree_notices.low_stock_notice(
                    part, construct_absolute_url(part.get_absolute_url())
                )
                target: Any = part
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
                target = cat
                users = cat.get_subscribers()
        except (ValueError, Part.DoesNotExist, PartCategory.DoesNotExist):
            return Response(
                {"error": "give ?part=<pk> or ?part_category=<pk> of an existing object"},
                status=400,
            )
        # As InvenTree's trigger_notification: only active users who may view the object.
        viewers, left_out = _may_view(users, target)
        users = viewers
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
                "left_out": left_out,
            }
        )


def _may_view(users: list, target: Any) -> tuple[list, list[str]]:
    """Split subscribers into those InvenTree would notify and those it would leave out."""
    from users.permissions import check_user_permission

    viewers: list = []
    left_out: list[str] = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        if not user.is_active:
            left_out.append(f"{user.get_username()} (inactive)")
        elif not check_user_permission(user, target, "view"):
            left_out.append(f"{user.get_username()} (may not view it)")
        else:
            viewers.append(user)
    return viewers, sorted(left_out)


class LocationSubscriptionView(NotifyPlusView):
    """The requesting user's stock-location subscriptions (location managers).

    GET lists them; POST {"location": pk} subscribes to a location and its sublocations;
    DELETE {"location": pk} unsubscribes.
    """

    permission_classes = [IsOwnUserWithScope]

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


class HealthView(NotifyPlusView):
    """Health at a glance for the admin console: what is off, what it costs, what happened."""

    def get(self, request: Request) -> Response:
        """Integrations, migrations, email handover, the last 24 h by status."""
        from .email_consent import summary
        from .plugin import inventree_slack

        plugin = self.plugin
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


class RoutesView(NotifyPlusView):
    """The routes editor: rows, the lists to pick from, and validation as the admin edits.

    Saving goes through InvenTree's plugin settings API (``ROUTES``), whose validator runs the
    same ``parse_routes`` with the same destinations, so the errors are the same.
    """

    def get(self, request: Request) -> Response:
        """Rows of the stored routes, with names for the objects they name."""
        plugin = self.plugin
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
        plugin = self.plugin
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
        routing.parse_routes(text, known, ui.route_categories())
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


class PickView(NotifyPlusView):
    """Name what an admin picked with InvenTree's related-model field (routes editor, preview).

    InvenTree's form modal posts the picked primary key here; errors come back per field, the
    way InvenTree's forms show them.
    """

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


class HereView(NotifyPlusView):
    """A page's panel: my subscription here (through which star) and where its notices go."""

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """``?model=part|partcategory|stocklocation&id=<pk>``."""
        answer = ui.here(
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
