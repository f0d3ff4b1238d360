"""Who subscribes to a part, in a constant number of queries (InvenTree edge).

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
