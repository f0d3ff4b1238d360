"""The end of a low-stock condition: noticed from stock events or the sweep (InvenTree edge)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from . import conditions, inventree_notices, outbox, routing
from .recipients import recipients_for
from .tasks import request_drain


def check_recovery(plugin: Any, event: str = "", kwargs: dict | None = None) -> None:
    """End low-stock conditions whose part is no longer low.

    With an event: only the part it touched; without: every active condition (the sweep's
    fallback when event integration is off).
    """
    from part.models import Part

    active = {c.key for c in conditions.active("low_stock:part:")}
    if not active:
        return
    kwargs = kwargs or {}
    if not event:
        part_ids = {int(k.rsplit(":", 1)[-1]) for k in active}
    elif event.startswith("part_part."):
        part_ids = {int(kwargs.get("id", 0))}
    else:
        from stock.models import StockItem

        item = StockItem.objects.filter(pk=kwargs.get("id")).only("part_id").first()
        part_ids = {item.part_id} if item is not None else set()
    for part in Part.objects.filter(pk__in=part_ids):
        for p in part.get_ancestors(include_self=True):
            key = f"low_stock:part:{p.pk}"
            if key in active and not p.is_part_low_on_stock():
                announce_recovery(plugin, p, key)


def announce_recovery(plugin: Any, part: Any, key: str) -> None:
    """End the condition; announce it if the admin turned recovery notices on."""
    from InvenTree.helpers_model import construct_absolute_url
    from users.permissions import check_user_permission

    from .subscribers import part_subscribers

    settings = plugin.current_settings()
    with transaction.atomic():
        if not conditions.end(key):
            return
        if not settings["NOTIFICATIONS_RECOVERY"]:
            return
        since = conditions.Condition.objects.get(key=key).since.isoformat()
        notice = inventree_notices.low_stock_notice(
            part, construct_absolute_url(part.get_absolute_url()), episode=since, recovered=True
        )
        users = [u for u in part_subscribers(part) if check_user_permission(u, part, "view")]
        planned = routing.plan(
            notice,
            recipients_for(plugin, users),
            plugin.routing_config(settings),
            timezone.now(),
        )
        created = outbox.enqueue(notice, planned)
    if created:
        transaction.on_commit(request_drain)
