"""Who subscribes to a part or manages a stock location (InvenTree edge).

Same semantics as InvenTree's ``Part.get_subscribers()`` — stars on the part, on a template
part above it, on its category or any parent category — but one query for the part tree, one
for the category tree and one for the users, however many stars or levels there are
(InvenTree loads each star's user with a query of its own).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q


def part_subscribers(part: Any) -> list[Any]:
    """Active users subscribed to ``part`` through a part, template or category star."""
    user_model = get_user_model()
    part_ids = list(part.get_ancestors(include_self=True).values_list("pk", flat=True))
    query = Q(starred_parts__part__in=part_ids)
    if part.category_id:
        category_ids = list(
            part.category.get_ancestors(include_self=True).values_list("pk", flat=True)
        )
        query |= Q(starred_categories__category__in=category_ids)
    return list(user_model.objects.filter(query, is_active=True).distinct().order_by("pk"))


def stock_location_ids(part: Any) -> list[int]:
    """Locations (and every location above them) holding stock of ``part`` or its variants."""
    from stock.models import StockItem, StockLocation

    variants = part.get_descendants(include_self=True)
    held = set(
        StockItem.objects.filter(part__in=variants, location__isnull=False)
        .values_list("location_id", flat=True)
        .distinct()
    )
    # Walk the parent links, one query per level for all locations at once: the tree index is
    # rebuilt in the background and may lag behind a location created moments ago.
    found: set[int] = set()
    level = held
    while level - found:
        found |= level
        level = set(
            StockLocation.objects.filter(pk__in=level, parent__isnull=False).values_list(
                "parent_id", flat=True
            )
        )
    return sorted(found)


def location_subscribers(location_ids: list[int]) -> list[Any]:
    """Active users subscribed to, or owning, any of these locations."""
    from stock.models import StockLocation

    from ..models import LocationSubscription

    if not location_ids:
        return []
    user_model = get_user_model()
    users = {
        u.pk: u
        for u in user_model.objects.filter(
            pk__in=LocationSubscription.objects.filter(location_id__in=location_ids).values(
                "user_id"
            ),
            is_active=True,
        )
    }
    for location in StockLocation.objects.filter(
        pk__in=location_ids, owner__isnull=False
    ).select_related("owner"):
        for owner in location.owner.get_related_owners(include_group=False):
            user = owner.owner
            if isinstance(user, user_model) and user.is_active:
                users.setdefault(user.pk, user)
    return [users[k] for k in sorted(users)]


def location_managers(part: Any, users: list) -> tuple[list[int], list]:
    """Locations holding the part, and their managers not already among ``users``.

    Managers are users subscribed to the location (or one above it) in Notify Plus, and the
    location's owners; like every recipient they need view permission on the part.
    """
    from users.permissions import check_user_permission

    locations = stock_location_ids(part)
    known = {u.pk for u in users if u is not None}
    managers = [
        u
        for u in location_subscribers(locations)
        if u.pk not in known and check_user_permission(u, part, "view")
    ]
    return locations, managers
