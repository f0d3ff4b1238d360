"""Staff endpoints for setting Notify Plus up: test sends, the routing preview, the routes editor.

- ``test/<channel>/``: send a test notice now and return the channel's exact answer;
- ``preview/?part=<pk>&category=<category>``: which routes, destinations and users a
  notification would reach;
- ``routes/`` (GET rows, POST ``validate``): the routes editor, validated with the same
  ``parse_routes`` the ROUTES setting's validator runs on save;
- ``pick/``: the name of a part category or stock location picked in the routes editor.

Staff only (``permissions.IsStaffWithScope``); destinations are masked, webhook URLs and other
users' addresses never leave the server.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from ..inventree.categories import notification_categories, route_categories
from ..notice import Fact, Notice, Severity, stable_uid
from ..routing.config import parse_routes
from ..routing.plan import plan
from . import routes_editor
from .plugin_view import NotifyPlusView


class TestSendView(NotifyPlusView):
    """Send a test notice to one destination now and return the channel's answer."""

    def post(self, request: Request, channel: str) -> Response:
        """Send synchronously: the admin is waiting for the answer."""
        from ..channels import CHANNELS
        from ..channels.base import Skip
        from ..inventree.worker_dispatcher import channels
        from ..outbox.destinations import SettingsDirectory

        plugin = self.plugin
        if channel not in CHANNELS:
            return Response({"error": f"channel must be one of {', '.join(CHANNELS)}"}, status=400)
        name = str(request.data.get("destination", "default"))
        key = f"email:user:{request.user.pk}" if channel == "email" else f"{channel}:{name}"
        config = plugin.routing_config()
        destination = SettingsDirectory(config).resolve(key)
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
        # The channel that sends there: a slack:<name> Slack app channel is the app's.
        sender = channels(config)[destination.kind]
        if plugin.outbox_ready():
            from math import ceil

            from ..outbox.pacing import take_token

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

        from ..inventree import notices
        from ..inventree.recipients import recipients_for
        from ..inventree.subscribers import location_managers, part_subscribers

        plugin = self.plugin
        category = request.query_params.get("category", notices.LOW_STOCK)
        locations: list[int] = []
        try:
            if "part" in request.query_params:
                part = Part.objects.get(pk=int(request.query_params["part"]))
                notice = notices.low_stock_notice(
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
        planned = plan(notice, recipients_for(plugin, users), config, timezone.now())
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


class RoutesView(NotifyPlusView):
    """The routes editor: rows, the lists to pick from, and validation as the admin edits.

    Saving goes through InvenTree's plugin settings API (``ROUTES``), whose validator runs the
    same ``parse_routes`` with the same destinations, so the errors are the same.
    """

    def get(self, request: Request) -> Response:
        """Rows of the stored routes, with names for the objects they name."""
        plugin = self.plugin
        text = plugin.get_setting("ROUTES", cache=False) or ""
        rows = routes_editor.route_rows(text)
        return Response(
            {
                "routes": rows,
                "names": routes_editor.names_for(rows),
                "categories": notification_categories(),
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
        text = routes_editor.rows_to_text([r for r in rows if isinstance(r, dict)])
        error = _routes_error(plugin, text)
        return Response({"valid": error is None, "error": error, "value": text})


def _routes_error(plugin: Any, text: str) -> str | None:
    from django.core.exceptions import ValidationError

    known = [d.key for d in plugin.routing_config().destinations]
    try:
        parse_routes(text, known, route_categories())
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
