"""Build order shortfall episodes: announced once, resolved when covered, completed or cancelled.

A ``build.stock_required`` notification (InvenTree sends it when a build order is issued;
Notify Plus also runs InvenTree's check when one is created, see ``events``) begins the episode
``build_shortfall:build:<pk>@<since>`` (condition key ``build_shortfall:build:<pk>``, the same
``episodes.begin`` as low stock, the same bound when its end cannot be seen).

Repeats while the episode is open are not announced again: InvenTree 1.5 checks a build's
stock when it is issued, so a build created (checked by Notify Plus) and then issued reports
the same shortfall twice, and the people told the first time are the ones the resolution will
reach. A build whose quantity changes is not re-checked by InvenTree 1.5.

It ends (``resolve``) when
- the shortfall is covered: every line of the build (``BuildLine``) needs no more than its
  part has available, in InvenTree's own terms: ``BuildLine.unallocated_quantity()`` (what is
  still to allocate or consume) against the part's stock (``get_stock_count``, with variants
  where the BOM line allows them) less what is allocated elsewhere (``allocation_count``), as
  ``build.tasks.check_build_stock`` judged it short; a fully allocated line needs nothing;
- the build is completed or cancelled (InvenTree's ``build.completed`` / ``build.cancelled``
  events, or the sweep finding its status);
- the build order is deleted (ended without a resolution: there is nothing left to show).

Seen from events (stock changes of a short part or its variants, allocations, the build's own
events) with event integration, and from the minutely sweep with schedule integration.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from ..notice import Fact, Notice, Severity, stable_uid
from ..notice_categories import BUILD_SHORTFALL
from ..outbox.clock import database_now
from . import consent, episodes
from .recovery import episode_bound, resolve
from .wakeup import request_drain

PREFIX = "build_shortfall:build:"
COMPLETED = "build.completed"
CANCELLED = "build.cancelled"

# Why an episode ended -> the resolution's title ending and the 'Resolved' line it shows.
REASONS = {
    "covered": ("stock covered", "Shortfall covered: every line has the stock it needs"),
    "completed": ("completed", "The build order was completed"),
    "cancelled": ("cancelled", "The build order was cancelled"),
}


def key(build_pk: int) -> str:
    """The condition key of a build order's shortfall."""
    return f"{PREFIX}{int(build_pk)}"


def begin(build: Any, lines: list[dict[str, Any]], now: Any) -> tuple[str, bool]:
    """Begin (or find) the build's shortfall episode; returns its start and whether it is new.

    The short parts are kept on the condition, so a stock change of another part does not
    re-check the build.
    """
    parts = sorted({int(line["part"].pk) for line in lines if line.get("part") is not None})
    detail = {"build": int(build.pk), "parts": parts}
    return episodes.begin(key(build.pk), detail, now=now, max_age=episode_bound())


def wanted(event: str) -> bool:
    """Build events that may end an episode (stock events are wanted for low stock already)."""
    return event in (COMPLETED, CANCELLED) or event.startswith(
        ("build_build.saved", "build_build.deleted", "build_builditem.")
    )


def check(plugin: Any, event: str = "", kwargs: dict | None = None) -> None:
    """End the shortfall episodes this event (or, without one, the sweep) may have ended."""
    active = {c.key: c for c in episodes.active(PREFIX)}
    if not active:
        return
    kwargs = kwargs or {}
    builds = _builds_touched(event, kwargs, active)
    for build_pk in sorted(builds):
        if key(build_pk) in active:
            check_build(plugin, build_pk)


def _builds_touched(event: str, kwargs: dict, active: dict[str, Any]) -> set[int]:
    """The build orders (with an open episode) whose shortfall the event may have changed."""
    every = {int(k.rsplit(":", 1)[-1]) for k in active}
    if not event or event == "build_builditem.deleted":
        return every
    if event in (COMPLETED, CANCELLED) or event.startswith("build_build."):
        return {int(kwargs.get("id") or 0)}
    if event.startswith("build_builditem."):
        from build.models import BuildItem

        item = BuildItem.objects.filter(pk=kwargs.get("id")).values("build_line__build").first()
        return {item["build_line__build"]} if item else set()
    if event.startswith("stock_stockitem."):
        from stock.models import StockItem

        item = StockItem.objects.filter(pk=kwargs.get("id")).select_related("part").first()
        if item is None:
            return every  # deleted: any build may have lost stock, none gained it
        parts = {p.pk for p in item.part.get_ancestors(include_self=True)}
        return {
            pk
            for k, c in active.items()
            if parts & set(c.detail.get("parts") or ())
            for pk in [int(k.rsplit(":", 1)[-1])]
        }
    return set()


def check_build(plugin: Any, build_pk: int) -> None:
    """End one build's episode if it is over: completed, cancelled, covered, or deleted."""
    from build.models import Build
    from build.status_codes import BuildStatus

    build = Build.objects.filter(pk=build_pk).select_related("part").first()
    if build is None:
        episodes.end(key(build_pk))
        return
    if build.status == BuildStatus.COMPLETE.value:
        resolve_build(plugin, build, "completed")
    elif build.status == BuildStatus.CANCELLED.value:
        resolve_build(plugin, build, "cancelled")
    elif covered(build):
        resolve_build(plugin, build, "covered")


def covered(build: Any) -> bool:
    """Whether every line of the build has the stock it still needs (InvenTree's own figures)."""
    lines = build.build_lines.select_related("bom_item", "bom_item__sub_part")
    for line in lines:
        need = Decimal(line.unallocated_quantity())
        if need <= 0:
            continue
        part = line.bom_item.sub_part
        in_stock = part.get_stock_count(include_variants=line.bom_item.allow_variants)
        available = max(Decimal(0), Decimal(in_stock) - Decimal(part.allocation_count()))
        if available < need:
            return False
    return True


def resolve_build(plugin: Any, build: Any, reason: str) -> None:
    """End the build's episode and resolve its notice in place (edits, InvenTree's bell).

    No separate message: InvenTree itself tells the build's people when it is completed or
    cancelled, and a covered shortfall is shown where the shortfall was (the edited message).
    """
    settings = plugin.current_settings()
    condition_key = key(build.pk)
    with transaction.atomic():
        if not episodes.end(condition_key):
            return
        if consent.switched_off(BUILD_SHORTFALL, settings):
            return
        since = episodes.Condition.objects.get(key=condition_key).since
        notice = resolution_notice(build, since.isoformat(), reason)
        created = resolve(notice, build, BUILD_SHORTFALL, since, database_now())
    if created:
        transaction.on_commit(request_drain)


def resolution_notice(build: Any, since: str, reason: str) -> Notice:
    """The shortfall's end: the same episode, state ``resolved``, what ended it."""
    from InvenTree.helpers_model import construct_absolute_url

    from .notices import object_ref

    part = build.part
    label = str(getattr(part, "full_name", None) or part.name)
    ending, line = REASONS.get(reason, REASONS["covered"])
    return Notice(
        uid=stable_uid(BUILD_SHORTFALL, "resolved", object_ref(build), since),
        category=BUILD_SHORTFALL,
        title=f"Build order {build.reference}: {ending}",
        summary=f"{line}.",
        link=construct_absolute_url(build.get_absolute_url()),
        severity=Severity.INFO,
        facts=(
            Fact("Build order", str(build.reference)),
            Fact("Assembly", label),
            Fact("Resolved", line),
        ),
        object_ref=object_ref(build),
        scope={"part": part.pk},
        episode=f"{PREFIX}{build.pk}@{since}",
        state="resolved",
    )
