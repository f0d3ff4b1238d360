"""The notification categories InvenTree has sent here, added to the known ones (InvenTree edge).

The known list is plain data (``notice_categories``); what InvenTree's notification log shows
it has sent (another plugin's own categories) needs InvenTree's models, so it is read here.
"""

from __future__ import annotations

from ..notice_categories import CATEGORIES, accepted


def seen_categories() -> list[str]:
    """Categories InvenTree has actually sent here (its notification log): other plugins' own."""
    from common.models import NotificationMessage

    return list(
        NotificationMessage.objects.order_by().values_list("category", flat=True).distinct()[:200]
    )


def route_categories() -> frozenset[str]:
    """The notification categories a route may name (the ROUTES validator's list)."""
    return accepted(seen_categories())


def notification_categories() -> list[dict[str, str]]:
    """Known categories plus any InvenTree has actually sent here (custom plugins add their own)."""
    known = dict(CATEGORIES)
    for category in sorted(route_categories()):
        known.setdefault(category, category)
    return [{"value": value, "label": f"{label} ({value})"} for value, label in known.items()]
