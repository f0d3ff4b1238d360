"""The hold stage: silences and snoozes, applied to due rows before the dispatcher claims them.

Runs at the start of every pass (``Dispatcher.run_once``), so a notice queued before a silence
was created is held too, and costs two small queries while no silence or snooze is active.

- Silences (staff, ``models.Silence``): a due row whose notice matches an active silence is
  held: status 'silenced', ``silence`` set, kept in the delivery log. Matching (:func:`matches`)
  needs no InvenTree: a part, a part category with its children (the notice's
  ``part_category_path``), a stock location with its children (``location_path`` of stock
  notices; ``stocked_in`` of a low-stock notice: where the part is stocked), a notification
  category, a destination key; empty criteria match anything, all given must match. The rest
  of an episode a silence holds (its recovery notice) is held with it.
- When a silence ends (its end passed, found here by any pass, the minutely sweep's included;
  or expired by staff) :func:`release` announces once what is still true: per destination, the
  newest held row of each episode still open goes back to pending (the others are marked as
  announced by it), non-episode rows go back as they were; rows of an episode that ended during
  the silence are skipped 'recovered while silenced'. All in one transaction that sets
  ``released_at``, so a crash repeats nothing and loses nothing.
- Snoozes (a user, an episode, until when): that user's email about the episode is skipped
  ('snoozed by <user> until …') and their @-mention dropped from channel posts, which stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from ..models import Condition, Delivery, NoticeRecord, Silence, Snooze

logger = logging.getLogger("inventree")

Status = Delivery.Status

RECOVERED_REASON = "recovered while silenced (silence {id})"
# user id -> the member ids (Slack, Discord) that mention them in channel posts
MentionLookup = Callable[[list[int]], Mapping[int, Iterable[str]]]
# episode -> whether its condition holds now (InvenTree's own answer), None if it cannot tell
StillTrue = Callable[[str], "bool | None"]


def matches(silence: Any, notice: Mapping[str, Any], destination: str) -> bool:
    """Whether ``silence`` holds ``notice`` (a stored notice dict) for ``destination``.

    Pure: reads the silence's criteria (``part_id``, ``part_category_id``, ``location_id``,
    ``category``, ``destination``) and the notice's category, object and scope.
    """
    scope = notice.get("scope") or {}
    if silence.category and notice.get("category") != silence.category:
        return False
    if silence.destination and destination != silence.destination:
        return False
    if silence.part_id is not None:
        parts = {scope.get("part")} | set(scope.get("parts") or ())
        if silence.part_id not in parts and notice.get("object_ref") != (
            f"part.part:{silence.part_id}"
        ):
            return False
    if silence.part_category_id is not None and silence.part_category_id not in (
        scope.get("part_category_path") or ()
    ):
        return False
    if silence.location_id is None:
        return True
    # Stock notices name their locations; a low-stock notice names where the part is stocked.
    return silence.location_id in {
        *(scope.get("location_path") or ()),
        *(scope.get("stocked_in") or ()),
    }


def active_silences(now: datetime) -> list[Silence]:
    """Silences in force at ``now``."""
    return list(Silence.objects.filter(starts__lte=now, ends__gt=now).order_by("id"))


def apply(
    now: datetime, mentions_of: MentionLookup | None = None, still_true: StillTrue | None = None
) -> int:
    """Release ended silences, then hold due rows under active silences and snoozes.

    Returns how many rows it held or skipped.
    """
    release_ended(now, still_true)
    changed = 0
    silences = active_silences(now)
    if silences:
        changed += _hold(silences, now)
    snoozes = list(
        Snooze.objects.filter(until__gt=now, lifted_at__isnull=True).select_related("user")
    )
    if snoozes:
        changed += _snooze(snoozes, now, mentions_of)
    return changed


def _prefilter(silences: list[Silence], episodes: set[str]) -> Q | None:
    """The due rows worth matching, narrowed in the database.

    Possible where every silence names a notification category or a destination (None: every
    due row must be looked at); rows of the episodes already held always are.
    """
    narrowed = Q(episode__in=sorted(episodes)) if episodes else Q(pk__in=[])
    for silence in silences:
        if not silence.category and not silence.destination:
            return None
        one = Q()
        if silence.category:
            one &= Q(category=silence.category)
        if silence.destination:
            one &= Q(destination=silence.destination)
        narrowed |= one
    return narrowed


def _hold(silences: list[Silence], now: datetime) -> int:
    held = 0
    with transaction.atomic():
        # An episode a silence holds stays held whole: its recovery notice (another category,
        # say) is not announced for something that was never announced.
        episodes = dict(
            ((e, d), pk)
            for e, d, pk in Delivery.objects.filter(
                status=Status.SILENCED, silence_id__in=[s.pk for s in silences]
            )
            .exclude(episode="")
            .values_list("episode", "destination", "silence_id")
        )
        rows = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notice_record")
            .filter(status=Status.PENDING, due_at__lte=now)
        )
        narrowed = _prefilter(silences, {e for e, _ in episodes})
        if narrowed is not None:
            rows = rows.filter(narrowed)
        by_silence: dict[int, list[int]] = {}
        for row in rows:
            chosen = next(
                (s.pk for s in silences if matches(s, row.notice, row.destination)),
                episodes.get((row.episode, row.destination)) if row.episode else None,
            )
            if chosen is not None:
                by_silence.setdefault(chosen, []).append(row.pk)
        for silence_id, ids in by_silence.items():
            held += Delivery.objects.filter(pk__in=ids, status=Status.PENDING).update(
                status=Status.SILENCED,
                silence_id=silence_id,
                last_error=f"held by silence {silence_id}",
                updated_at=now,
            )
    if held:
        logger.info("Notify Plus: %s delivery(ies) held by silences", held)
    return held


def _snooze(snoozes: list[Snooze], now: datetime, mentions_of: MentionLookup | None) -> int:
    """Skip snoozed users' email about the episode; drop their mentions from channel posts."""
    by_episode: dict[str, dict[int, Snooze]] = {}
    for snooze in snoozes:
        by_episode.setdefault(snooze.episode, {})[snooze.user_id] = snooze
    skipped = 0
    with transaction.atomic():
        rows = Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Status.PENDING, due_at__lte=now, episode__in=list(by_episode)
        )
        ids: dict[int, set[str]] = {}
        if mentions_of is not None:
            users = sorted({s.user_id for s in snoozes})
            try:
                ids = {u: set(m) for u, m in mentions_of(users).items()}
            except Exception:
                logger.exception("Notify Plus: could not look up snoozed users' mention ids")
        for row in rows:
            snoozed = by_episode.get(row.episode, {})
            user = _email_user(row.destination)
            if row.channel == "email" and user in snoozed:
                s = snoozed[user]
                row.status = Status.SKIPPED
                zone = " UTC" if s.until.tzinfo is not None else ""  # naive: InvenTree's zone
                row.last_error = (
                    f"snoozed by {s.user.get_username()} until {s.until:%Y-%m-%d %H:%M}{zone}"
                )
                row.save(update_fields=["status", "last_error", "updated_at"])
                skipped += 1
                continue
            drop = set().union(*(ids.get(u, set()) for u in snoozed)) if snoozed else set()
            if row.mentions and drop & set(row.mentions):
                row.mentions = [m for m in row.mentions if m not in drop]
                row.save(update_fields=["mentions", "updated_at"])
    return skipped


def _email_user(destination: str) -> int | None:
    kind, _, rest = destination.partition(":")
    tail = rest.rsplit(":", 1)[-1]
    return int(tail) if kind == "email" and tail.isdigit() else None


# -- the end of a silence --------------------------------------------------------------------


def release_ended(now: datetime, still_true: StillTrue | None = None) -> int:
    """Release every silence whose end has passed and that was not released yet."""
    released = 0
    for pk in Silence.objects.filter(ends__lte=now, released_at__isnull=True).values_list(
        "pk", flat=True
    ):
        released += release(pk, now, still_true)
    return released


def expire(silence_id: int, now: datetime, still_true: StillTrue | None = None) -> int | None:
    """End a silence now (staff's DELETE) and release what it held; None if there is none."""
    with transaction.atomic():
        silence = Silence.objects.select_for_update().filter(pk=silence_id).first()
        if silence is None:
            return None
        if silence.ends > now:
            silence.ends = now
            silence.starts = min(silence.starts, now)
            silence.save(update_fields=["ends", "starts"])
    return release(silence_id, now, still_true)


def release(silence_id: int, now: datetime, still_true: StillTrue | None = None) -> int:
    """Announce once what ``silence_id`` held and is still true; returns rows re-queued.

    Per destination and episode, the newest held row goes back to pending if the episode is
    still open, every other row of it is marked as announced by that one; rows of an episode
    that ended are skipped. Rows without an episode are re-queued as they were (each is a
    different notice). Idempotent: ``released_at`` is set in the same transaction.
    ``still_true`` asks InvenTree whether an episode's condition holds right now (a part
    restocked a moment ago whose recovery event is still queued is not announced).
    """
    with transaction.atomic():
        silence = Silence.objects.select_for_update().filter(pk=silence_id).first()
        if silence is None or silence.released_at is not None:
            return 0
        rows = list(
            Delivery.objects.select_for_update(of=("self",))
            .select_related("notice_record")
            .filter(silence_id=silence_id, status=Status.SILENCED)
            .order_by("created_at", "id")
        )
        episodes = {r.episode for r in rows if r.episode}
        closed = {e for e in episodes if not episode_open(e, rows, still_true)}
        requeue: list[int] = []
        skipped: dict[str, list[int]] = {}
        newest: dict[tuple[str, str], Delivery] = {}
        for row in rows:
            if not row.episode:
                requeue.append(row.pk)
            elif row.episode in closed:
                reason = RECOVERED_REASON.format(id=silence_id)
                skipped.setdefault(reason, []).append(row.pk)
            else:
                newest[(row.destination, row.episode)] = row  # ordered: the last one wins
        for row in rows:
            chosen = newest.get((row.destination, row.episode))
            if chosen is None:
                continue
            if chosen.pk == row.pk:
                requeue.append(row.pk)
            else:
                reason = f"announced once by delivery {chosen.pk} when silence {silence_id} ended"
                skipped.setdefault(reason, []).append(row.pk)
        Delivery.objects.filter(pk__in=requeue).update(
            status=Status.PENDING,
            due_at=now,
            last_error=f"held by silence {silence_id}; released",
            updated_at=now,
        )
        # What the episode's end queued meanwhile (its recovery notice), not held yet: the
        # condition was never announced to these destinations, so its end is not either.
        ended = {(r.episode, r.destination) for r in rows if r.episode in closed}
        for row in Delivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Status.PENDING, episode__in={e for e, _ in ended}
        ):
            if (row.episode, row.destination) in ended:
                skipped.setdefault(RECOVERED_REASON.format(id=silence_id), []).append(row.pk)
        for reason, ids in skipped.items():
            Delivery.objects.filter(pk__in=ids).update(
                status=Status.SKIPPED, last_error=reason, updated_at=now
            )
        silence.released_at = now
        silence.save(update_fields=["released_at"])
    if rows:
        logger.info(
            "Notify Plus: silence %s ended: %s delivery(ies) announced, %s not",
            silence_id,
            len(requeue),
            len(rows) - len(requeue),
        )
    return len(requeue)


def episode_open(
    episode: str, rows: Iterable[Delivery] = (), still_true: StillTrue | None = None
) -> bool:
    """Whether ``episode`` ('low_stock:part:12@<since>') is still going on.

    Ended if its resolution was queued (among ``rows`` or not), or its condition ended or
    started again since (a different episode); an episode without a condition row is open
    unless resolved.
    """
    for row in rows:
        if row.episode == episode and row.notice.get("state") == "resolved":
            return False
    if NoticeRecord.objects.filter(data__episode=episode, data__state="resolved").exists():
        return False  # its resolution was queued (and is not among the held rows)
    if still_true is not None:
        try:
            now_true = still_true(episode)
        except Exception:
            logger.exception("Notify Plus: could not check whether %s still holds", episode)
            now_true = None
        if now_true is False:
            return False
    key, _, since = episode.partition("@")
    condition = Condition.objects.filter(key=key).first()
    if condition is None:
        return True
    if condition.detail.get("ended"):
        return False
    return not since or _same_time(condition.since, since)


def _same_time(when: datetime, iso: str) -> bool:
    try:
        return datetime.fromisoformat(iso) == when
    except ValueError:
        return when.isoformat() == iso
