"""InvenTree events Notify Plus listens to (InvenTree edge; needs event integration).

- stock and part changes may end a low-stock condition, a deleted part ends it (``recovery``);
- stock changes, allocations and the build's own events (completed, cancelled, saved, deleted)
  may end a build order's shortfall episode (``build_shortfall``);
- a new build order is checked for short parts at once, as InvenTree's documentation says
  (InvenTree 1.5 itself checks only when the build is issued; the notice's identity is the
  build order, so issuing it later does not announce the same shortfall again). Not while
  the master switch is off: the check is Notify Plus's addition, and the switch stops it;
- goods received against a purchase order may leave a part that was covered still low
  (``on_order.check_received``).
"""

from __future__ import annotations

from typing import Any

BUILD_CREATED = "build_build.created"
# Goods received against a purchase order (``on_order``: a covered part left low is announced).
RECEIVED = "purchaseorderitem.received"


def wanted(event: str) -> bool:
    """The events :func:`handle` acts on."""
    from .build_shortfall import wanted as build_wanted

    return (
        event in (BUILD_CREATED, RECEIVED)
        or build_wanted(event)
        or event.startswith(("stock_stockitem.", "part_part.saved", "part_part.deleted"))
    )


def handle(plugin: Any, event: str, kwargs: dict) -> None:
    """Act on one event (runs in InvenTree's worker)."""
    if event == BUILD_CREATED:
        if plugin.current_settings()["NOTIFICATIONS_ENABLE"]:
            check_new_build(kwargs.get("id"))
        return
    if not plugin.outbox_ready():
        return
    if event == RECEIVED:
        from .on_order import check_received

        check_received(plugin, kwargs)
        return
    from . import build_shortfall
    from .recovery import check_recovery

    if not build_shortfall.wanted(event):
        check_recovery(plugin, event, kwargs)
    if not event.startswith("part_part."):
        build_shortfall.check(plugin, event, kwargs)


def check_new_build(build_id: Any) -> None:
    """Run InvenTree's own stock check for a build order just created."""
    from build.models import Build
    from build.tasks import check_build_stock

    build = Build.objects.filter(pk=build_id).first()
    if build is not None:
        check_build_stock(build)
