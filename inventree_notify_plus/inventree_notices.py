"""Turn what InvenTree hands to a notification plugin into a Notice (InvenTree edge).

``trigger_notification`` passes the object, a category and a context dict made for its own
email templates; here it becomes channel-neutral facts: for low stock the part, IPN,
available vs minimum and the shortfall, the category path; for a build order the reference
and each short line (part, required, available).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from .notice import Fact, Line, Notice, Severity, stable_uid

LOW_STOCK = "part.notify_low_stock"
BUILD_SHORTFALL = "build.stock_required"
RECOVERED = "notify_plus.low_stock_recovered"


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


def _part_label(part: Any) -> str:
    return str(getattr(part, "full_name", None) or part.name)


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
        scope={"part_category_path": category_ids, "part": part.pk},
    )


def build_shortfall_notice(build: Any, lines: list[dict[str, Any]], link: str) -> Notice:
    """A new build order whose BOM lines are short: the reference and each short line."""
    part = build.part
    path, category_ids = _category_path(part)
    short = tuple(
        Line(
            title=_part_label(line["part"]),
            link=str(line.get("link", "")),
            facts=(
                Fact("required", _qty(line.get("required", ""))),
                Fact("available", _qty(line.get("available", ""))),
            ),
        )
        for line in lines
    )
    facts = [
        Fact("Build order", str(build.reference)),
        Fact("Assembly", _part_label(part)),
        Fact("Quantity", _qty(build.quantity)),
        Fact("Short lines", str(len(short))),
    ]
    if path:
        facts.append(Fact("Category", path))
    return Notice(
        uid=stable_uid(BUILD_SHORTFALL, object_ref(build)),
        category=BUILD_SHORTFALL,
        title=f"Build order {build.reference} lacks parts",
        summary=f"{len(short)} line(s) of {build.reference} ({_part_label(part)} x {_qty(build.quantity)}) are short of stock.",
        link=link,
        severity=Severity.WARNING,
        facts=tuple(facts),
        lines=short,
        object_ref=object_ref(build),
        scope={"part_category_path": category_ids, "part": part.pk},
    )


def generic_notice(target: Any, category: str, context: dict[str, Any]) -> Notice:
    """Any other notification InvenTree core triggers: its name, message and link."""
    name = str(context.get("name") or category)
    message = str(context.get("message") or "")
    part = context.get("part")
    scope: dict[str, Any] = {}
    facts: list[Fact] = []
    if part is not None and hasattr(part, "category"):
        _, category_ids = _category_path(part)
        scope = {"part_category_path": category_ids, "part": part.pk}
        facts.append(Fact("Part", _part_label(part)))
    if target is not None and getattr(target, "pk", None) is not None:
        facts.insert(0, Fact(str(target._meta.verbose_name).capitalize(), str(target)))
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
        return build_shortfall_notice(context["build"], list(context.get("lines") or []), link)
    return generic_notice(target, name, context)
