"""The end of a low-stock condition: noticed from stock events or the sweep (InvenTree edge).

Seeing the end needs event integration (stock and part events) or schedule integration (the
minutely sweep checks every active condition). Without either, nothing can end a condition,
so it is bounded instead (:func:`episode_bound`): it silences repeats for less than InvenTree's
own 24-hour repeat, so each of InvenTree's daily low-stock notices is announced, as InvenTree
itself would. A condition whose part was deleted ends without an announcement (the
``part_part.deleted`` event, or the sweep finding the part gone).

What the end of any episode does (this one's and a build order's shortfall, see
``build_shortfall``) is :func:`resolve`: the announcing messages updated in place where the
channel can, InvenTree's bell messages marked read (``bell``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from ..notice import Notice
from ..notice_categories import LOW_STOCK, RECOVERED
from ..outbox import store, updates
from ..outbox.clock import database_now
from ..routing.plan import plan
from . import bell, consent, episodes, notices
from .recipients import recipients_for
from .wakeup import request_drain

# Less than InvenTree's 24-hour memory, after which it sends the same low-stock notice again.
UNOBSERVED_EPISODE = timedelta(hours=23)
PREFIX = "low_stock:part:"


def observable() -> bool:
    """Whether the end of a low-stock condition can be seen (event or schedule integration)."""
    from common.settings import get_global_setting

    return bool(
        get_global_setting("ENABLE_PLUGINS_EVENTS", False)
        or get_global_setting("ENABLE_PLUGINS_SCHEDULE", False)
    )


def episode_bound() -> timedelta | None:
    """How long a low-stock condition may silence repeats: for good while its end can be seen."""
    return None if observable() else UNOBSERVED_EPISODE


def check_recovery(plugin: Any, event: str = "", kwargs: dict | None = None) -> None:
    """End low-stock conditions whose part is no longer low.

    With an event: only the part it touched; without: every active condition (the sweep's
    fallback when event integration is off). A deleted part's condition ends unannounced.
    """
    from part.models import Part

    active = {c.key for c in episodes.active(PREFIX)}
    if not active:
        return
    kwargs = kwargs or {}
    if event == "part_part.deleted":
        episodes.end(f"{PREFIX}{int(kwargs.get('id', 0))}")
        return
    if not event:
        part_ids = {int(k.rsplit(":", 1)[-1]) for k in active}
        there = set(Part.objects.filter(pk__in=part_ids).values_list("pk", flat=True))
        for gone in part_ids - there:
            episodes.end(f"{PREFIX}{gone}")
    elif event.startswith("part_part."):
        part_ids = {int(kwargs.get("id", 0))}
    else:
        from stock.models import StockItem

        item = StockItem.objects.filter(pk=kwargs.get("id")).only("part_id").first()
        part_ids = {item.part_id} if item is not None else set()
    for part in Part.objects.filter(pk__in=part_ids):
        for p in part.get_ancestors(include_self=True):
            key = f"{PREFIX}{p.pk}"
            if key in active and not p.is_part_low_on_stock():
                announce_recovery(plugin, p, key)


def announce_recovery(plugin: Any, part: Any, key: str) -> None:
    """End the condition and resolve its notice everywhere it was shown.

    In the transaction that ends it: the resolution notice (state ``resolved``, the same
    episode, the new stock level) edits the messages that announced it in place where the
    channel can (``follow_up(..., "update")``, always), InvenTree's bell messages about it are
    marked read (``bell``), and, only if the admin turned recovery notices on, a recovery
    message goes to the subscribers and the channels (threaded under the announcement by
    email; for a Slack incoming webhook that is its reply). Nothing of it while a switch stops
    low-stock notices (the master switch included): the condition just ends.
    """
    from InvenTree.helpers_model import construct_absolute_url
    from users.permissions import check_user_permission

    from .subscribers import part_subscribers

    settings = plugin.current_settings()
    with transaction.atomic():
        if not episodes.end(key):
            return
        if consent.switched_off(RECOVERED, settings):
            return
        since = episodes.Condition.objects.get(key=key).since
        notice = notices.low_stock_notice(
            part,
            construct_absolute_url(part.get_absolute_url()),
            episode=since.isoformat(),
            recovered=True,
        )
        now = database_now()  # the outbox's clock, for the due times as for the rows
        created = resolve(notice, part, LOW_STOCK, since, now)
        if settings["NOTIFICATIONS_RECOVERY"]:
            users = [u for u in part_subscribers(part) if check_user_permission(u, part, "view")]
            config = plugin.routing_config(settings)
            planned = plan(notice, recipients_for(plugin, users), config, now)
            created += store.enqueue(notice, planned, now)
    if created:
        transaction.on_commit(request_drain)


def resolve(resolution: Notice, target: Any, category: str, since: datetime, now: datetime) -> int:
    """What every episode's end does, in the caller's transaction; returns rows queued.

    The messages that announced the episode are updated in place where their channel can edit
    (always, whatever ``NOTIFICATIONS_RECOVERY`` says: the old message must not keep shouting),
    and InvenTree's unread bell messages about ``target`` in ``category`` are marked read.
    """
    created = updates.follow_up(resolution, "update", now)
    bell.mark_read(target, category, since)
    return created
