"""Low stock already covered by open orders (``LOW_STOCK_COUNT_ON_ORDER``; InvenTree edge).

InvenTree warns about a low part even when a purchase order for it is open (InvenTree issues
3550, 11449). With the setting on, a part whose available stock plus what is on open purchase
orders (plus, for an assembly, what active build orders are still to make) reaches its minimum
is not announced: its planned deliveries are written to the delivery log as *skipped*, with the
reason "covered by open orders: N on order", so the log and "why?" show the decision. When some
is on order but not enough, the notice says how much ("On order: N").

The quantities are InvenTree's own: ``Part.available_stock``, ``Part.on_order`` (open purchase
order lines, pack sizes counted) and ``Part.quantity_being_built`` (what InvenTree shows as
"scheduled to build": the rest of every active build order, whether or not its outputs were
started; ``quantity_in_production`` would count started outputs only, so an issued build order
with no output yet would not count).

A covered part starts no episode, so when an order is received and leaves the part still low,
it is announced then (:func:`check_received`, from the ``purchaseorderitem.received`` event:
InvenTree itself does not repeat a low-stock notification within 24 hours).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..notice import Fact, Notice, stable_uid

logger = logging.getLogger("inventree")


def _qty(value: Any) -> str:
    value = Decimal(str(value)).normalize()
    return f"{value:f}"


@dataclass(frozen=True)
class Coverage:
    """A low part's stock against its minimum, counting what is on order and being built."""

    available: Decimal
    on_order: Decimal
    in_production: Decimal
    minimum: Decimal
    units: str = ""

    @property
    def incoming(self) -> Decimal:
        """What open orders will bring in."""
        return self.on_order + self.in_production

    @property
    def covered(self) -> bool:
        """Whether available stock plus what is incoming reaches the minimum."""
        return self.incoming > 0 and self.available + self.incoming >= self.minimum

    def amount(self, value: Decimal) -> str:
        """A quantity with the part's units."""
        return f"{_qty(value)} {self.units}".strip()

    @property
    def reason(self) -> str:
        """The delivery log's reason for not announcing a covered part."""
        text = f"covered by open orders: {self.amount(self.on_order)} on order"
        if self.in_production:
            text += f", {self.amount(self.in_production)} in production"
        return text

    def annotate(self, notice: Notice) -> Notice:
        """The notice with 'On order' (and 'In production') facts when some is incoming."""
        facts = list(notice.facts)
        if self.on_order:
            facts.append(Fact("On order", self.amount(self.on_order)))
        if self.in_production:
            facts.append(Fact("In production", self.amount(self.in_production)))
        return replace(notice, facts=tuple(facts))


def coverage(part: Any) -> Coverage:
    """The part's coverage, from InvenTree's own properties."""
    in_production = Decimal(0)
    if getattr(part, "assembly", False):
        in_production = Decimal(str(part.quantity_being_built or 0))
    return Coverage(
        available=Decimal(str(part.available_stock)),
        on_order=Decimal(str(part.on_order or 0)),
        in_production=in_production,
        minimum=Decimal(str(part.minimum_stock or 0)),
        units=str(getattr(part, "units", "") or ""),
    )


def annotated(cover: Coverage, notice: Notice, covered: bool, now: datetime) -> Notice:
    """The low-stock notice with what is incoming; a covered one gets its own uid per day.

    Without an episode, a covered notice's uid would be the same every time: the log would
    show the first decision only. One per day matches InvenTree's daily repeat.
    """
    notice = cover.annotate(notice)
    if covered:
        notice = replace(notice, uid=stable_uid(notice.uid, "covered", now.date().isoformat()))
    return notice


def skip_covered(notice_uid: str, reason: str) -> int:
    """Mark the deliveries just queued for ``notice_uid`` skipped, with ``reason``.

    Called in the transaction that queued them, so no worker sees them pending.
    """
    from ..models import Delivery

    return Delivery.objects.filter(notice_uid=notice_uid, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.SKIPPED, last_error=reason
    )


def check_received(plugin: Any, kwargs: dict) -> None:
    """After goods are received against a purchase order: announce parts it leaves low.

    Only with ``LOW_STOCK_COUNT_ON_ORDER`` on, only for parts (and the templates above them, as
    InvenTree checks) that are low, no longer covered, and have no open episode (an announced
    part is not announced again). Runs InvenTree's own low-stock notification without its
    24-hour repeat check, so the bell shows it as well.
    """
    from ..notice_categories import LOW_STOCK

    settings = plugin.current_settings()
    if not settings.get("LOW_STOCK_COUNT_ON_ORDER") or not plugin.handles(LOW_STOCK, settings):
        return
    from stock.models import StockItem

    from . import episodes

    part_ids = set(
        StockItem.objects.filter(pk__in=kwargs.get("item_ids") or []).values_list(
            "part_id", flat=True
        )
    )
    if not part_ids:
        return
    from part.models import Part

    open_keys = {c.key for c in episodes.active("low_stock:part:")}
    for part in Part.objects.filter(pk__in=part_ids):
        for p in part.get_ancestors(include_self=True, ascending=True):
            if not (p.active and p.is_part_low_on_stock()):
                continue
            if f"low_stock:part:{p.pk}" in open_keys or coverage(p).covered:
                continue
            logger.info("Notify Plus: part %s still low after receiving; announcing", p.pk)
            notify_low_stock(p)


def notify_low_stock(part: Any) -> None:
    """InvenTree's low-stock notification of ``part`` (``part.tasks.notify_low_stock``), now.

    The same context InvenTree builds, with ``check_recent=False``: its 24-hour memory holds the
    notification Notify Plus skipped as covered.
    """
    import common.notifications
    from django.utils.translation import gettext_lazy as _
    from InvenTree.helpers_model import construct_absolute_url

    name = _("Low stock notification")
    context = {
        "part": part,
        "name": name,
        "message": f"The available stock for {part.name} has fallen below the configured "
        "minimum level",
        "link": construct_absolute_url(part.get_absolute_url()),
        "template": {"html": "email/low_stock_notification.html", "subject": name},
    }
    common.notifications.trigger_notification(
        part,
        "part.notify_low_stock",
        target_fnc=part.get_subscribers,
        context=context,
        check_recent=False,
    )
