"""Reminders: a low-stock episode still open after ``REMIND_AFTER`` is mentioned again, briefly.

Alertmanager's ``repeat_interval`` for InvenTree's parts. Notify Plus announces an episode once
(``episodes``); a part that stays low for three weeks would never be mentioned again. With
``REMIND_AFTER`` set (e.g. ``7d``), the minutely sweep queues one short notice per open episode
and interval: "Still low: <part>", "still low since <date>, N days".

Routed like the episode's first notice (routes, subscribers, location managers, consent): each
person's email (grouped into digests like every notice) and channel destinations that do not
thread get a new message; destinations whose channel threads (Discord, the Slack app) get a
reply under the message that announced the episode (``outbox.updates.follow_up``).

At most one reminder per episode per interval: the condition's row is locked while deciding,
the reminder's count and time are written to its ``detail`` in the same transaction, and the
reminder's notice uid is (episode, count), so even a second sweep that raced past the lock
would enqueue nothing new.

The parsing and the decision are plain functions (ring 1); the sweep is the InvenTree edge.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..notice import Notice, stable_uid

logger = logging.getLogger("inventree")

PREFIX = "low_stock:part:"
UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
SHORTEST = timedelta(minutes=1)
LONGEST = timedelta(days=365)
OFF = ("", "0", "off", "none", "never")
_PIECE = re.compile(r"(\d+)\s*([wdhm])")
_WHOLE = re.compile(r"^(\s*\d+\s*[wdhm]\s*)+$")


def parse_interval(text: str | None) -> timedelta | None:
    """``REMIND_AFTER`` as a duration: ``7d``, ``12h``, ``30m``, ``2w``, ``1d12h``; off: None.

    Empty, ``0`` or ``off`` turn reminders off. Raises a ValidationError saying what is accepted
    for anything else (a bare number is refused: 7 what?), and for less than a minute (the sweep
    runs once a minute) or more than a year.
    """
    value = str(text or "").strip().lower()
    if value in OFF:
        return None
    if not _WHOLE.match(value):
        raise ValidationError(
            _(
                "Write the interval as a number with a unit: 7d (days), 12h (hours), 30m "
                "(minutes), 2w (weeks), or combined like 1d12h; empty or 0 turns reminders off "
                "(got '{value}')."
            ).format(value=value[:40]),
            code="invalid_interval",
        )
    interval = timedelta()
    for number, unit in _PIECE.findall(value):
        interval += timedelta(**{UNITS[unit]: int(number)})
    if interval == timedelta():
        return None
    if interval < SHORTEST or interval > LONGEST:
        raise ValidationError(
            _("Remind after at least 1 minute and at most 365 days (got '{value}').").format(
                value=value
            ),
            code="interval_range",
        )
    return interval


def interval_or_off(text: str | None) -> timedelta | None:
    """The stored value for sweeping: one saved before it was refused counts as off (logged)."""
    try:
        return parse_interval(text)
    except ValidationError:
        logger.warning("Notify Plus: REMIND_AFTER '%s' is not an interval; no reminders", text)
        return None


def reminder_due(
    since: datetime, last: datetime | None, now: datetime, interval: timedelta
) -> bool:
    """Whether an episode open since ``since``, last reminded at ``last``, is reminded now.

    Due once the episode is ``interval`` old, then once each ``interval`` after the last
    reminder (so shortening the setting reminds at most once at once, never a burst).
    """
    if now - since < interval:
        return False
    return last is None or now - last >= interval


def age_text(since: datetime, now: datetime) -> str:
    """How long an episode has lasted, in the largest whole unit: '3 days', '5 hours', '1 minute'."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


def reminder_notice(base: Notice, since: datetime, now: datetime, count: int) -> Notice:
    """The short 'still low' notice of an episode, from its current low-stock notice.

    ``base`` is the low-stock notice the part would get now (current figures, same episode);
    ``count`` numbers the episode's reminders and makes the uid: a reminder is enqueued once.
    """
    label = next((f.value for f in base.facts if f.label == "Part"), base.title)
    return replace(
        base,
        uid=stable_uid("reminder", base.episode, count),
        title=f"Still low: {label}",
        summary=f"Still low since {since:%Y-%m-%d %H:%M} UTC, {age_text(since, now)}. "
        f"{base.summary}",
        state="reminder",
    )


def _last_reminded(detail: dict[str, Any]) -> datetime | None:
    raw = detail.get("reminded_at")
    return datetime.fromisoformat(raw) if raw else None


def send_reminders(plugin: Any, now: datetime | None = None) -> int:
    """The sweep's step: remind every open low-stock episode that is due; returns how many.

    Nothing when ``REMIND_AFTER`` is off, or low-stock notices are switched off.
    """
    from ..notice_categories import LOW_STOCK
    from ..outbox.clock import database_now
    from . import consent, episodes

    settings = plugin.current_settings()
    interval = interval_or_off(settings.get("REMIND_AFTER"))
    if interval is None:
        return 0
    if consent.switched_off(LOW_STOCK, settings) or not plugin.handles(LOW_STOCK, settings):
        return 0
    now = now or database_now()
    reminded = 0
    for condition in episodes.active(PREFIX):
        if reminder_due(condition.since, _last_reminded(condition.detail), now, interval):
            try:
                reminded += remind(plugin, settings, condition.key, interval, now)
            except Exception:
                logger.exception("Notify Plus: could not remind %s", condition.key)
    return reminded


def remind(
    plugin: Any, settings: dict[str, Any], key: str, interval: timedelta, now: datetime
) -> int:
    """Queue one reminder of the episode ``key`` if still due under its row lock; 1 if queued.

    A part that is no longer low (its recovery not yet seen) or, with
    ``LOW_STOCK_COUNT_ON_ORDER``, now covered by open orders is not reminded.
    """
    from django.db import transaction
    from part.models import Part

    from ..models import Condition
    from .on_order import coverage

    with transaction.atomic():
        row = Condition.objects.select_for_update().filter(key=key).first()
        if row is None or row.detail.get("ended"):
            return 0
        if not reminder_due(row.since, _last_reminded(row.detail), now, interval):
            return 0  # another sweep reminded it while we waited for the lock
        part = Part.objects.filter(pk=int(key.rsplit(":", 1)[-1])).first()
        if part is None or not part.is_part_low_on_stock():
            return 0
        if settings.get("LOW_STOCK_COUNT_ON_ORDER") and coverage(part).covered:
            return 0
        count = int(row.detail.get("reminders", 0)) + 1
        _queue(plugin, settings, part, row.since, now, count)
        row.detail = {**row.detail, "reminders": count, "reminded_at": now.isoformat()}
        row.save(update_fields=["detail"])
    return 1


def _queue(
    plugin: Any, settings: dict[str, Any], part: Any, since: datetime, now: datetime, count: int
) -> None:
    """Build, route and queue the reminder: new messages, and replies where channels thread."""
    from django.db import transaction
    from InvenTree.helpers_model import construct_absolute_url
    from users.permissions import check_user_permission

    from ..outbox import store
    from ..routing.plan import plan
    from . import notices
    from .on_order import coverage
    from .recipients import recipients_for
    from .subscribers import location_managers, part_subscribers
    from .wakeup import request_drain

    base = notices.low_stock_notice(
        part, construct_absolute_url(part.get_absolute_url()), episode=since.isoformat()
    )
    if settings.get("LOW_STOCK_COUNT_ON_ORDER"):
        base = coverage(part).annotate(base)
    users = [u for u in part_subscribers(part) if check_user_permission(u, part, "view")]
    locations, managers = location_managers(part, users)
    base = replace(base, scope={**base.scope, "location_path": locations})
    notice = reminder_notice(base, since, now, count)
    planned = plan(
        notice, recipients_for(plugin, [*users, *managers]), plugin.routing_config(settings), now
    )
    new_posts, threaded = split_threaded(planned)
    announced = _announced_at(notice.episode, [p.destination for p in threaded])
    # A threading destination that never got the episode's message gets a new one.
    new_posts += [p for p in threaded if p.destination not in announced]
    replied = _reply(notice, now) if announced else 0
    if replied is None:  # follow-ups not available: a new message rather than none
        new_posts, replied = planned, 0
    created = store.enqueue(notice, new_posts, now) + replied
    if created:
        transaction.on_commit(request_drain)


def split_threaded(planned: list) -> tuple[list, list]:
    """Planned deliveries as (new messages, those whose channel threads under the original)."""
    from ..channels import CHANNELS

    new, threaded = [], []
    for p in planned:
        cls = CHANNELS.get(p.channel)
        (threaded if cls is not None and getattr(cls, "threads", False) else new).append(p)
    return new, threaded


def _announced_at(episode: str, destinations: list[str]) -> set[str]:
    """Which of ``destinations`` were sent a message of the episode (what a reply threads under)."""
    if not destinations:
        return set()
    from ..models import Delivery

    return set(
        Delivery.objects.filter(
            episode=episode,
            destination__in=destinations,
            status=Delivery.Status.SENT,
        )
        .exclude(external_id="")
        .values_list("destination", flat=True)
    )


def _reply(notice: Notice, now: datetime) -> int | None:
    """Replies under the episode's sent messages; None while follow-ups are not built."""
    from ..outbox import updates

    try:
        return updates.follow_up(notice, "reply", now)  # follow-up
    except NotImplementedError:  # follow-up: the stub until the notice-life work lands
        logger.info("Notify Plus: threaded replies not available; reminder posted anew")
        return None
