"""What a user subscribes to, and through which star: the page panel and 'My notifications'.

A part is followed through a star on it, on a template part above it or on its category (or
a parent category), and through the stock locations holding it (a Notify Plus location
subscription, or owning the location); a page's panel shows which, and the routes its
notices would take, so it shows exactly what the server decides. Nothing here returns a
webhook URL or another user's address.
"""

from __future__ import annotations

from typing import Any

from ..routing.config import RoutingConfig
from .panels import PANEL_MODELS, page_object

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

    obj = page_object(model, pk) if model in PANEL_MODELS else None
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
        from ..inventree.subscribers import stock_location_ids

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
        from ..models import LocationSubscription

        answer["location_subscription"] = LocationSubscription.objects.filter(
            user=user, location_id=obj.pk
        ).exists()
    return answer


def _location_via(
    user: Any, location_ids: list[int], reason: str | None, own: int | None = None
) -> list[dict[str, Any]]:
    from stock.models import StockLocation

    from ..models import LocationSubscription

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


def routes_in_scope(config: RoutingConfig, scope: dict[str, list[int]]) -> list[dict]:
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

    from ..models import LocationSubscription

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
