"""Turn what InvenTree hands to a notification plugin into a Notice (InvenTree edge).

``trigger_notification`` passes the object, a category and a context dict made for its own
email templates; here it becomes channel-neutral facts, read at intake while the model
instances exist (the outbox sends later, in another process, from this snapshot).

Never worse than InvenTree's own email. For every category InvenTree renders with a template
of its own, the notice carries every value that template shows, as facts and, for lists, as
lines (a table: one row per line, a column per fact, a link per row):

- stale stock (``stock.notify_stale_stock``): one row per item with part, location, quantity,
  batch, serial number, expiry date and days until expiry, each row linking to the item;
- low stock: part, IPN, total stock, available, minimum, shortfall, category;
- build order shortfall (``build.stock_required``): reference, assembly, quantity, and a row per
  short part with required, available and the part's description;
- build completed, overdue purchase / sales / return / build orders, items received against a
  purchase or return order, new and cancelled orders: the order (as InvenTree writes it), its
  supplier, customer or part and quantity, target date, responsible, InvenTree's message, link;
- any other category (a future one included): at least InvenTree's name, message and link,
  the target object and, when the context names a part, its stock figures.

Why facts and not InvenTree's own template: a notice is rendered later, from JSON, for email,
Slack and Discord alike, alone or inside a digest; InvenTree's templates need live model
instances, render HTML only and one notification per mail. Capturing the facts keeps one
escaping rule per channel (``escaping.py``, Django autoescape) for user text such as part
names, lets a digest carry each notice's full table, and lets Slack and Discord show the same
facts. The ring-2 test ``tests/ring2/test_template_emails.py`` captures the email InvenTree's
own method renders for each of these categories and checks, value by value and row by row,
that the email Notify Plus sends carries each one, alone and inside a digest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from ..notice import Fact, Line, Notice, Severity, stable_uid
from ..notice_categories import BUILD_SHORTFALL, LOW_STOCK, RECOVERED, STALE_STOCK

logger = logging.getLogger("inventree")

# Models whose notifications describe an order (``order``, ``build`` or ``instance`` in context).
ORDER_APPS = frozenset({"order", "build"})
NONE = "-"


def category_name(category: Any) -> str:
    """InvenTree passes categories as str or as an event enum."""
    return str(getattr(category, "value", category) or "")


def object_ref(obj: Any) -> str:
    """``app_label.model:pk``: enough to check later whether the object still exists."""
    if obj is None or getattr(obj, "pk", None) is None:
        return ""
    meta = obj._meta
    return f"{meta.app_label}.{meta.model_name}:{obj.pk}"


def _qty(value: Any) -> str:
    if isinstance(value, Decimal | float):
        value = Decimal(str(value)).normalize()
        return f"{value:f}"
    return str(value)


def _with_units(value: Any, part: Any) -> str:
    units = getattr(part, "units", "") or ""
    return f"{_qty(value)} {units}" if units else _qty(value)


def _part_label(part: Any) -> str:
    return str(getattr(part, "full_name", None) or part.name)


def _named(obj: Any) -> str:
    """A company or location as InvenTree prints it: name (or path), then its description."""
    if obj is None:
        return NONE
    name = str(getattr(obj, "pathstring", "") or getattr(obj, "name", "") or obj)
    description = str(getattr(obj, "description", "") or "")
    return f"{name} - {description}" if description else name


def _iso(value: Any) -> str:
    return value.isoformat() if value else NONE


def _location_path(location: Any) -> list[int]:
    """A stock location and its parents, root first (parent links, like ``_category_path``)."""
    chain = []
    while location is not None and len(chain) < 100:
        chain.append(location.pk)
        location = location.parent
    chain.reverse()
    return chain


def _union(paths: Iterable[list[int]]) -> list[int]:
    seen: list[int] = []
    for path in paths:
        seen += [pk for pk in path if pk not in seen]
    return seen


def _category_path(part: Any) -> tuple[str, list[int]]:
    """The category and its parents, root first.

    Walks the ``parent`` links rather than the tree index: InvenTree rebuilds that index in the
    background, so a category created moments ago may not be in it yet.
    """
    chain = []
    category = getattr(part, "category", None)
    while category is not None and len(chain) < 100:
        chain.append(category)
        category = category.parent
    chain.reverse()
    return " / ".join(c.name for c in chain), [c.pk for c in chain]


def _stocked_in(part: Any, most: int = 50) -> list[int]:
    """The stock locations holding the part's stock, with their parents.

    What a silence of a stock location matches; routes keep matching ``location_path`` only.
    """
    from stock.models import StockLocation

    try:
        ids = list(
            part.stock_items.filter(location__isnull=False)
            .order_by()
            .values_list("location", flat=True)
            .distinct()[:most]
        )
        return _union(_location_path(loc) for loc in StockLocation.objects.filter(pk__in=ids))
    except Exception:  # a notice is never lost over its silence scope
        logger.exception("Notify Plus: could not read where part %s is stocked", part.pk)
        return []


def low_stock_notice(part: Any, link: str, episode: str = "", recovered: bool = False) -> Notice:
    """Low stock (or recovery) of one part: the facts an engineer acts on."""
    available = part.available_stock
    minimum = part.minimum_stock
    shortfall = max(Decimal(0), Decimal(minimum) - Decimal(available))
    units = f" {part.units}" if getattr(part, "units", "") else ""
    path, category_ids = _category_path(part)
    facts = [Fact("Part", _part_label(part))]
    if part.IPN:
        facts.append(Fact("IPN", str(part.IPN)))
    facts += [
        Fact("Total stock", f"{_qty(part.total_stock)}{units}"),
        Fact("Available", f"{_qty(available)}{units}"),
        Fact("Minimum", f"{_qty(minimum)}{units}"),
    ]
    if not recovered:
        facts.append(Fact("Shortfall", f"{_qty(shortfall)}{units}"))
    if path:
        facts.append(Fact("Category", path))
    if recovered:
        title = f"Stock recovered: {_part_label(part)}"
        summary = f"Available stock is back at or above the minimum ({_qty(available)} of {_qty(minimum)}{units})."
        severity = Severity.INFO
        category = RECOVERED
    else:
        title = f"Low stock: {_part_label(part)}"
        summary = f"Available stock {_qty(available)}{units} is below the minimum of {_qty(minimum)}{units}."
        severity = Severity.CRITICAL if available <= 0 else Severity.WARNING
        category = LOW_STOCK
    return Notice(
        uid=stable_uid(category, "part", part.pk, episode),
        category=category,
        title=title,
        summary=summary,
        link=link,
        severity=severity,
        facts=tuple(facts),
        object_ref=object_ref(part),
        scope={
            "part_category_path": category_ids,
            "part": part.pk,
            "stocked_in": _stocked_in(part),
        },
        episode=f"low_stock:part:{part.pk}@{episode}" if episode else "",
        state="resolved" if recovered else "firing",
    )


def build_shortfall_notice(
    build: Any, lines: list[dict[str, Any]], link: str, episode: str = ""
) -> Notice:
    """A new build order whose BOM lines are short: the reference and each short line.

    ``episode``: when its shortfall episode began (``build_shortfall:build:<pk>@<since>``).
    """
    part = build.part
    path, category_ids = _category_path(part)
    short = tuple(_short_line(line) for line in lines)
    facts = [
        Fact("Build order", str(build.reference)),
        Fact("Assembly", _part_label(part)),
        Fact("Quantity", _with_units(build.quantity, part)),
        Fact("Short lines", str(len(short))),
    ]
    if path:
        facts.append(Fact("Category", path))
    return Notice(
        uid=stable_uid(BUILD_SHORTFALL, object_ref(build), *([episode] if episode else [])),
        category=BUILD_SHORTFALL,
        title=f"Build order {build.reference} lacks parts",
        summary=f"{len(short)} line(s) of {build.reference} ({_part_label(part)} x {_qty(build.quantity)}) are short of stock.",
        link=link,
        severity=Severity.WARNING,
        facts=tuple(facts),
        lines=short,
        line_heading="Part",
        object_ref=object_ref(build),
        scope={"part_category_path": category_ids, "part": part.pk},
        episode=f"build_shortfall:build:{build.pk}@{episode}" if episode else "",
    )


def _short_line(line: dict[str, Any]) -> Line:
    """One short BOM line: the part (linked), required and available, its description."""
    part = line["part"]
    facts = [
        Fact("required", _with_units(line.get("required", ""), part)),
        Fact("available", _with_units(line.get("available", ""), part)),
    ]
    if getattr(part, "description", ""):
        facts.append(Fact("description", str(part.description)))
    return Line(title=_part_label(part), link=str(line.get("link", "")), facts=tuple(facts))


STALE_COLUMNS = (
    "Location",
    "Quantity",
    "Batch",
    "Serial Number",
    "Expiry Date",
    "Days Until Expiry",
)


def stale_stock_notice(target: Any, context: dict[str, Any]) -> Notice:
    """One user's stock items near or past expiry: a row per item, as InvenTree's table.

    InvenTree sends one such notification per user, each listing that user's items, so the
    identity is the list itself (two users with the same items share one Slack post).
    """
    rows: list[Line] = []
    keys: list[str] = []
    expired = 0
    expiries = []
    category_paths, location_paths = [], []
    for entry in context.get("stale_items") or ():
        item = entry.get("stock_item")
        if item is None:
            continue
        part = item.part
        days = entry.get("days_until_expiry")
        status = str(entry.get("expiry_status") or NONE) if days is not None else NONE
        expired += int(days is not None and days < 0)
        if item.expiry_date:
            expiries.append(item.expiry_date)
        category_paths.append(_category_path(part)[1])
        location_paths.append(_location_path(item.location))
        keys.append(f"{item.pk}:{item.expiry_date}:{status}")
        cells = (
            _named(item.location),
            _with_units(item.quantity, part),
            str(item.batch or NONE),
            str(item.serial or NONE),
            _iso(item.expiry_date),
            status,
        )
        rows.append(
            Line(
                title=_part_label(part),
                link=str(entry.get("absolute_url") or ""),
                facts=tuple(Fact(c, v) for c, v in zip(STALE_COLUMNS, cells, strict=True)),
            )
        )
    count = len(rows)
    facts = [Fact("Items", str(count))]
    if expired:
        facts.append(Fact("Expired", str(expired)))
    if expiries:
        facts.append(Fact("Earliest expiry", min(expiries).isoformat()))
    noun = "item" if count == 1 else "items"
    return Notice(
        uid=stable_uid(STALE_STOCK, *keys, date.today().isoformat()),
        category=STALE_STOCK,
        title=f"Stale stock: {count} {noun} approaching expiry",
        summary=str(context.get("message") or ""),
        link=str(context.get("link") or ""),
        severity=Severity.CRITICAL if expired else Severity.WARNING,
        facts=tuple(facts),
        lines=tuple(rows),
        line_heading="Part",
        object_ref=object_ref(target),
        scope={
            "part_category_path": _union(category_paths),
            "location_path": _union(location_paths),
        },
    )


def _order_of(context: dict[str, Any]) -> Any:
    """The order (purchase, sales, return, transfer or build) a notification is about, if any."""
    for key in ("order", "build", "instance"):
        obj = context.get(key)
        meta = getattr(obj, "_meta", None)
        if meta is not None and meta.app_label in ORDER_APPS and hasattr(obj, "reference"):
            return obj
    return None


def _order_facts(order: Any) -> list[Fact]:
    """What InvenTree's order emails show, plus the target date and who is responsible.

    InvenTree shows the order as it prints it and the other party (or the part built); an
    overdue order is judged by its target date, and the reader wants to know whose it is.
    """
    facts = [Fact(str(order._meta.verbose_name).capitalize(), str(order))]
    for attr, label in (("supplier", "Supplier"), ("customer", "Customer")):
        if getattr(order, f"{attr}_id", None) is not None:
            facts.append(Fact(label, _named(getattr(order, attr))))
    part = getattr(order, "part", None) if order._meta.app_label == "build" else None
    if part is not None:
        facts.append(Fact("Part", _part_label(part)))
        facts.append(Fact("Quantity", _with_units(order.quantity, part)))
    if getattr(order, "target_date", None):
        facts.append(Fact("Target date", order.target_date.isoformat()))
    if getattr(order, "responsible", None) is not None:
        facts.append(Fact("Responsible", str(order.responsible)))
    return facts


def order_notice(target: Any, category: str, context: dict[str, Any], order: Any) -> Notice:
    """An order overdue, completed, received against, created or cancelled."""
    name = str(context.get("name") or category)
    message = str(context.get("message") or "")
    reference = str(order.reference)
    part = getattr(order, "part", None) if order._meta.app_label == "build" else None
    scope: dict[str, Any] = {}
    if part is not None:
        scope = {"part_category_path": _category_path(part)[1], "part": part.pk}
    ref = object_ref(target if target is not None else order)
    return Notice(
        uid=stable_uid(category, ref, name, message, date.today().isoformat()),
        category=category,
        title=name if reference in name else f"{name}: {reference}",
        summary=message,
        link=str(context.get("link") or ""),
        severity=Severity.WARNING if "overdue" in category else Severity.INFO,
        facts=tuple(_order_facts(order)),
        object_ref=ref,
        scope=scope,
    )


def generic_notice(target: Any, category: str, context: dict[str, Any]) -> Notice:
    """Any other notification: its name, message and link, the target and part facts."""
    name = str(context.get("name") or category)
    message = str(context.get("message") or "")
    part = context.get("part")
    scope: dict[str, Any] = {}
    facts: list[Fact] = []
    if target is not None and getattr(target, "pk", None) is not None and target is not part:
        facts.append(Fact(str(target._meta.verbose_name).capitalize(), str(target)))
    if part is not None and hasattr(part, "category"):
        _, category_ids = _category_path(part)
        scope = {"part_category_path": category_ids, "part": part.pk}
        facts.append(Fact("Part", _part_label(part)))
        if part.category is not None:  # as InvenTree's part email prints it
            facts.append(Fact("Category", str(part.category.pathstring)))
        for label, attr in (
            ("Total stock", "total_stock"),
            ("Available", "available_stock"),
            ("Minimum", "minimum_stock"),
        ):
            if hasattr(part, attr):
                facts.append(Fact(label, _with_units(getattr(part, attr), part)))
    ref = object_ref(target)
    return Notice(
        uid=stable_uid(category, ref, name, message, date.today().isoformat()),
        category=category,
        title=name,
        summary=message,
        link=str(context.get("link") or ""),
        severity=Severity.INFO,
        facts=tuple(facts),
        object_ref=ref,
        scope=scope,
    )


def notice_from_notification(
    target: Any, category: Any, context: dict[str, Any], episode: str = ""
) -> Notice:
    """Pick the builder for the category InvenTree sent."""
    name = category_name(category)
    link = str(context.get("link") or "")
    if name == LOW_STOCK and context.get("part") is not None:
        return low_stock_notice(context["part"], link, episode)
    if name == BUILD_SHORTFALL and context.get("build") is not None:
        lines = list(context.get("lines") or [])
        return build_shortfall_notice(context["build"], lines, link, episode)
    if name == STALE_STOCK and context.get("stale_items"):
        return stale_stock_notice(target, context)
    order = _order_of(context)
    if order is not None:
        return order_notice(target, name, context, order)
    return generic_notice(target, name, context)
