"""Notify Plus in InvenTree's web UI: which panels and dashboard items to offer, and what they show.

The plugin class delegates its ``UserInterfaceMixin`` hooks here; the API views in ``api.py`` use
the lookups below (subscriptions here, mine, routes in view) so a panel shows exactly what the
server decides. Nothing here returns a webhook URL or another user's address.
"""

from __future__ import annotations

import json
from typing import Any

from . import categories, routing

# The bundle built from frontend/ (vite) into static/; InvenTree copies it to static/plugins/<slug>/.
ADMIN_SOURCE = "Admin.js:renderPluginSettings"
PANEL_SOURCE = "Panel.js:renderPanel"
DASHBOARD_SOURCE = "Dashboard.js:renderDashboardItem"

# Pages that get a Notify Plus panel: InvenTree's model name -> (app label, model) for permissions.
PANEL_MODELS = {
    "part": ("part", "part"),
    "partcategory": ("part", "partcategory"),
    "stocklocation": ("stock", "stocklocation"),
}

# The user settings "My notifications" shows, in this order (read and saved through InvenTree's
# plugin user-settings API so its validators give the errors).
MY_SETTINGS = (
    "NOTIFY_PLUS_EMAIL",
    "NOTIFY_PLUS_EMAIL_MODE",
    "NOTIFY_PLUS_QUIET_HOURS",
    "NOTIFY_PLUS_TIMEZONE",
    "NOTIFY_PLUS_SLACK_MEMBER_ID",
    "NOTIFY_PLUS_DISCORD_USER_ID",
)


def seen_categories() -> list[str]:
    """Categories InvenTree has actually sent here (its notification log): other plugins' own."""
    from common.models import NotificationMessage

    return list(
        NotificationMessage.objects.order_by().values_list("category", flat=True).distinct()[:200]
    )


def route_categories() -> frozenset[str]:
    """The notification categories a route may name (the ROUTES validator's list)."""
    return categories.accepted(seen_categories())


def notification_categories() -> list[dict[str, str]]:
    """Known categories plus any InvenTree has actually sent here (custom plugins add their own)."""
    known = dict(categories.CATEGORIES)
    for category in sorted(route_categories()):
        known.setdefault(category, category)
    return [{"value": value, "label": f"{label} ({value})"} for value, label in known.items()]


def _my_notifications(plugin: Any) -> dict[str, Any]:
    """'My notifications': the same entry as a settings panel and as a dashboard item."""
    return {
        "key": "notify-plus-mine",
        "title": "My notifications",
        "description": "Notify Plus: what you subscribe to and how you are told",
        "icon": "ti:bell:outline",
        "source": plugin.plugin_static_file(DASHBOARD_SOURCE),
    }


def panels(plugin: Any, request: Any, context: dict) -> list[dict[str, Any]]:
    """'Notifications' on Part, Part category and Stock location pages; 'My notifications' in settings."""
    from users.permissions import check_user_permission

    context = context or {}
    model = context.get("target_model")
    if model == "usersettings" and getattr(request.user, "is_authenticated", False):
        return [_my_notifications(plugin)]
    if model not in PANEL_MODELS or context.get("target_id") in (None, ""):
        return []
    instance = _instance(model, context["target_id"])
    if instance is None or not check_user_permission(request.user, instance, "view"):
        return []
    return [
        {
            "key": "notify-plus",
            "title": "Notifications",
            "description": "Notify Plus: your subscriptions here and where notices go",
            "icon": "ti:bell:outline",
            "source": plugin.plugin_static_file(PANEL_SOURCE),
            "context": {"model": model, "id": instance.pk},
        }
    ]


def dashboard_items(plugin: Any, request: Any, context: dict) -> list[dict[str, Any]]:
    """'My notifications' for every signed-in user."""
    if not getattr(request.user, "is_authenticated", False):
        return []
    return [{**_my_notifications(plugin), "options": {"width": 6, "height": 5}}]


def admin_context(plugin: Any) -> dict[str, Any]:
    """Small start-up data for the admin console; the rest comes from the admin endpoints."""
    return {"api": f"/plugin/{plugin.slug}/", "version": plugin.VERSION}


def _instance(model: str, pk: Any) -> Any:
    from part.models import Part, PartCategory
    from stock.models import StockLocation

    cls = {"part": Part, "partcategory": PartCategory, "stocklocation": StockLocation}[model]
    try:
        return cls.objects.get(pk=int(pk))
    except (TypeError, ValueError, cls.DoesNotExist):
        return None


def _ref(kind: str, obj: Any) -> dict[str, Any]:
    """An object as the UI links it: InvenTree's web UI paths (relative to /web)."""
    paths = {
        "part": "/part/{pk}/",
        "partcategory": "/part/category/{pk}/",
        "stocklocation": "/stock/location/{pk}/",
    }
    name = getattr(obj, "pathstring", "") or getattr(obj, "full_name", "") or str(obj)
    return {"model": kind, "pk": obj.pk, "name": name, "link": paths[kind].format(pk=obj.pk)}


def _ancestor_ids(obj: Any) -> list[int]:
    """Primary keys of obj and everything above it, walking parent links (the tree index lags)."""
    ids = []
    while obj is not None and obj.pk not in ids:
        ids.append(obj.pk)
        obj = getattr(obj, "parent", None)
    return ids


def here(plugin: Any, user: Any, model: str, pk: Any) -> dict[str, Any] | None:
    """For one page: am I subscribed, through which star, and where its notices go."""
    from part.models import PartCategoryStar, PartStar
    from users.permissions import check_user_permission

    obj = _instance(model, pk) if model in PANEL_MODELS else None
    if obj is None or not check_user_permission(user, obj, "view"):
        return None
    via: list[dict[str, Any]] = []
    scope: dict[str, list[int]] = {}
    if model == "part":
        for star in PartStar.objects.filter(
            user=user, part__in=obj.get_ancestors(include_self=True)
        ).select_related("part"):
            reason = "this part" if star.part_id == obj.pk else "a template above it"
            via.append({"star": reason, **_ref("part", star.part)})
        category_ids = _ancestor_ids(obj.category) if obj.category_id else []
        scope["part_category_path"] = category_ids
        from .subscribers import stock_location_ids

        location_ids = stock_location_ids(obj)
        scope["location_path"] = location_ids
        via += _location_via(user, location_ids, "a location holding its stock")
    elif model == "partcategory":
        category_ids = _ancestor_ids(obj)
        scope["part_category_path"] = category_ids
    else:
        category_ids = []
        location_ids = _ancestor_ids(obj)
        scope["location_path"] = location_ids
        via += _location_via(user, location_ids, None, obj.pk)
    if category_ids:
        for star in PartCategoryStar.objects.filter(
            user=user, category_id__in=category_ids
        ).select_related("category"):
            own = model == "partcategory" and star.category_id == obj.pk
            reason = "this category" if own else "its category or a parent"
            via.append({"star": reason, **_ref("partcategory", star.category)})
    answer: dict[str, Any] = {
        "object": _ref(model, obj),
        "subscribed": bool(via),
        "via": via,
        "routes": routes_in_scope(plugin.routing_config(), scope),
        "default_destinations": [
            d.key for d in plugin.routing_config().destinations if d.name == "default"
        ],
    }
    if model == "stocklocation":
        from .models import LocationSubscription

        answer["location_subscription"] = LocationSubscription.objects.filter(
            user=user, location_id=obj.pk
        ).exists()
    return answer


def _location_via(
    user: Any, location_ids: list[int], reason: str | None, own: int | None = None
) -> list[dict[str, Any]]:
    from stock.models import StockLocation

    from .models import LocationSubscription

    if not location_ids:
        return []
    subscribed = set(
        LocationSubscription.objects.filter(user=user, location_id__in=location_ids).values_list(
            "location_id", flat=True
        )
    )
    via = []
    for location in StockLocation.objects.filter(pk__in=location_ids):
        owners = (
            {o.owner for o in location.owner.get_related_owners(include_group=False)}
            if location.owner_id
            else set()
        )
        label = reason or ("this location" if location.pk == own else "a parent location")
        if location.pk in subscribed:
            via.append({"star": label, "how": "subscribed", **_ref("stocklocation", location)})
        elif user in owners:
            via.append({"star": label, "how": "owner", **_ref("stocklocation", location)})
    return via


def routes_in_scope(config: routing.RoutingConfig, scope: dict[str, list[int]]) -> list[dict]:
    """Routes whose part-category and location criteria fit this object (any notification category)."""
    found = []
    for n, route in enumerate(config.routes, start=1):
        if route.part_categories and not route.part_categories & set(
            scope.get("part_category_path", ())
        ):
            continue
        if route.locations and not route.locations & set(scope.get("location_path", ())):
            continue
        found.append(
            {
                "route": n,
                "categories": sorted(route.categories),
                "to": list(route.to),
                "continue": route.cont,
            }
        )
    return found


def mine(user: Any) -> dict[str, Any]:
    """My subscriptions: parts, categories and locations, with links."""
    from part.models import PartCategoryStar, PartStar
    from stock.models import StockLocation

    from .models import LocationSubscription

    parts = [
        _ref("part", s.part)
        for s in PartStar.objects.filter(user=user).select_related("part").order_by("part__name")
    ]
    categories = [
        _ref("partcategory", s.category)
        for s in PartCategoryStar.objects.filter(user=user).select_related("category")
    ]
    location_ids = LocationSubscription.objects.filter(user=user).values_list(
        "location_id", flat=True
    )
    locations = [
        _ref("stocklocation", loc) for loc in StockLocation.objects.filter(pk__in=location_ids)
    ]
    return {
        "parts": parts,
        "categories": sorted(categories, key=lambda r: r["name"]),
        "locations": sorted(locations, key=lambda r: r["name"]),
        "settings": list(MY_SETTINGS),
    }


def route_rows(text: str) -> list[dict[str, Any]]:
    """The ROUTES setting as rows for the editor (a stored value that is not JSON: no rows)."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    rows = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        rows.append(
            {
                "category": [str(c) for c in routing._as_list(item.get("category"))],
                "part_category": [int(c) for c in routing._as_list(item.get("part_category"))],
                "location": [int(c) for c in routing._as_list(item.get("location"))],
                "to": [str(t) for t in routing._as_list(item.get("to"))],
                "continue": bool(item.get("continue", False)),
            }
        )
    return rows


def rows_to_text(rows: list[dict[str, Any]]) -> str:
    """Editor rows back to the ROUTES setting's JSON (empty criteria left out)."""
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for key in ("category", "part_category", "location"):
            if row.get(key):
                item[key] = row[key]
        item["to"] = row.get("to") or []
        if row.get("continue"):
            item["continue"] = True
        out.append(item)
    return json.dumps(out) if out else ""


def names_for(rows: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """Path names of the part categories and locations the routes name (for the editor's chips)."""
    from part.models import PartCategory
    from stock.models import StockLocation

    cats = {pk for r in rows for pk in r.get("part_category", [])}
    locs = {pk for r in rows for pk in r.get("location", [])}
    return {
        "part_category": {c.pk: c.pathstring for c in PartCategory.objects.filter(pk__in=cats)},
        "location": {loc.pk: loc.pathstring for loc in StockLocation.objects.filter(pk__in=locs)},
    }
