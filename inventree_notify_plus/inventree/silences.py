"""Silences and snoozes on InvenTree's side: checking a new silence, describing one, mentions.

The hold itself (matching, holding, releasing) is the outbox's ``holds`` stage and needs no
InvenTree; here are the parts that read InvenTree's models: the part, part category and stock
location a silence names must exist, its destination must be configured, and a snoozed user's
Slack/Discord member ids are their user settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .consent import stored_choices

KEPT_VISIBLE = timedelta(days=7)  # expired silences stay in the list this long
# What the console offers (the API also takes any ``ends``).
DURATIONS = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
    "1w": timedelta(weeks=1),
    "2w": timedelta(weeks=2),
}
MENTION_KEYS = ("NOTIFY_PLUS_SLACK_MEMBER_ID", "NOTIFY_PLUS_DISCORD_USER_ID")


class SilenceInvalidError(ValueError):
    """A silence that cannot be created: ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def mention_ids(user_ids: list[int]) -> dict[int, set[str]]:
    """Each user's Slack member id and Discord user id (what mentions them in channel posts)."""
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.filter(pk__in=user_ids))
    stored = stored_choices(users)
    return {
        u.pk: {v.strip() for k in MENTION_KEYS if (v := stored.get((u.pk, k)) or "").strip()}
        for u in users
    }


def still_true(episode: str) -> bool | None:
    """Whether an episode's condition holds now: a low-stock part still low (None: unknown).

    Read from InvenTree at once, so a part restocked moments ago (its recovery event still in
    the worker's queue) is not announced when a silence ends.
    """
    from part.models import Part

    key = episode.partition("@")[0]
    kind, _, pk = key.rpartition(":")
    if kind != "low_stock:part" or not pk.isdigit():
        return None
    part = Part.objects.filter(pk=int(pk)).first()
    return bool(part is not None and part.is_part_low_on_stock())


def _when(value: Any, field: str, errors: dict[str, str]) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value)) if isinstance(value, str) else None
    if parsed is None:
        errors[field] = "give a date and time in ISO 8601, e.g. 2026-12-24T18:00:00Z"
        return None
    return _django_form(parsed)


def _django_form(value: datetime) -> datetime:
    """Aware (UTC) with ``USE_TZ``, else naive in InvenTree's time zone, like ``timezone.now()``.

    InvenTree runs with ``USE_TZ`` off: an ISO time with an offset is converted, not compared.
    """
    if settings.USE_TZ:
        return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value
    return timezone.make_naive(value) if timezone.is_aware(value) else value


def iso(value: datetime) -> str:
    """ISO 8601 with its offset (a naive time is in InvenTree's time zone), for browsers."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.isoformat()


def _pk(value: Any, field: str, errors: dict[str, str]) -> int | None:
    if value in (None, ""):
        return None
    try:
        pk = int(value)
    except (TypeError, ValueError):
        errors[field] = "give the primary key (a number)"
        return None
    if pk <= 0:
        errors[field] = "give the primary key (a positive number)"
        return None
    return pk


def validate(data: Mapping[str, Any], plugin: Any, now: datetime | None = None) -> dict[str, Any]:
    """The fields of a new ``Silence`` from the API's JSON, or :class:`SilenceInvalidError`.

    At least one criterion; ``ends`` (or ``duration``, one of :data:`DURATIONS`, from
    ``starts``) after ``starts`` (default now) and in the future; the
    part, part category and location exist; the category is known; the destination is one
    configured (a Slack/Discord destination key such as ``slack:ops``, or ``email:user:<id>``).
    """
    from part.models import Part, PartCategory
    from stock.models import StockLocation

    from .categories import route_categories

    now = now or timezone.now()
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {
        "part_id": _pk(data.get("part"), "part", errors),
        "part_category_id": _pk(data.get("part_category"), "part_category", errors),
        "location_id": _pk(data.get("location"), "location", errors),
        "category": str(data.get("category") or "").strip(),
        "destination": str(data.get("destination") or "").strip(),
        "comment": str(data.get("comment") or "").strip(),
    }
    for field, model, name in (
        ("part_id", Part, "part"),
        ("part_category_id", PartCategory, "part_category"),
        ("location_id", StockLocation, "location"),
    ):
        pk = fields[field]
        if pk is not None and not model.objects.filter(pk=pk).exists():
            errors[name] = f"there is no {model._meta.verbose_name} with id {pk}"
    if fields["category"] and fields["category"] not in route_categories():
        errors["category"] = f"unknown notification category '{fields['category']}'"
    if fields["destination"] and not _destination_known(fields["destination"], plugin):
        errors["destination"] = (
            f"'{fields['destination']}' is not a configured destination (e.g. 'slack:ops', "
            "'discord:stores' or 'email:user:<id>')"
        )
    criteria = ("part_id", "part_category_id", "location_id", "category", "destination")
    if not any(fields[c] not in (None, "") for c in criteria) and not errors:
        errors["criteria"] = (
            "give at least one of part, part_category, location, category, destination "
            "(a silence of everything is not allowed)"
        )
    starts = _when(data.get("starts"), "starts", errors) or now
    ends = _when(data.get("ends"), "ends", errors)
    duration = str(data.get("duration") or "").strip()
    if ends is None and duration:
        if duration in DURATIONS:
            ends = starts + DURATIONS[duration]
        else:
            errors["duration"] = f"one of {', '.join(DURATIONS)}"
    if ends is None and "ends" not in errors and "duration" not in errors:
        errors["ends"] = "give when the silence ends (ISO 8601), or a duration"
    elif ends is not None:
        if ends <= starts:
            errors["ends"] = "must be after starts"
        elif ends <= now:
            errors["ends"] = "must be in the future"
    if len(fields["comment"]) > 2000:
        errors["comment"] = "at most 2000 characters"
    if errors:
        raise SilenceInvalidError(errors)
    return {**fields, "starts": starts, "ends": ends}


def _destination_known(key: str, plugin: Any) -> bool:
    kind, _, rest = key.partition(":")
    if kind == "email":
        from django.contrib.auth import get_user_model

        tail = rest.rsplit(":", 1)[-1]
        return tail.isdigit() and get_user_model().objects.filter(pk=int(tail)).exists()
    config = plugin.routing_config()
    return config.destination(key) is not None


def state(silence: Any, now: datetime) -> str:
    """'active', 'pending' (starts later) or 'expired'."""
    if silence.ends <= now:
        return "expired"
    return "pending" if silence.starts > now else "active"


def describe(silence: Any, now: datetime, names: Mapping[str, Mapping[int, str]]) -> dict:
    """One silence as the API shows it (with the names of the objects it names)."""
    return {
        "id": silence.pk,
        "pk": silence.pk,
        "state": state(silence, now),
        "part": silence.part_id,
        "part_name": names["part"].get(silence.part_id, "") if silence.part_id else "",
        "part_category": silence.part_category_id,
        "part_category_name": names["part_category"].get(silence.part_category_id, "")
        if silence.part_category_id
        else "",
        "location": silence.location_id,
        "location_name": names["location"].get(silence.location_id, "")
        if silence.location_id
        else "",
        "category": silence.category,
        "destination": silence.destination,
        "starts": iso(silence.starts),
        "ends": iso(silence.ends),
        "comment": silence.comment,
        "author": silence.author.get_username() if silence.author_id else "",
        "created": iso(silence.created_at),
        "released": iso(silence.released_at) if silence.released_at else None,
        "held": getattr(silence, "held_count", 0),
    }


def names_for(silences: list[Any]) -> dict[str, dict[int, str]]:
    """Names of the parts, categories and locations the silences name (three queries)."""
    from part.models import Part, PartCategory
    from stock.models import StockLocation

    def lookup(model: Any, ids: set[int], label: Any) -> dict[int, str]:
        ids = {i for i in ids if i}
        return {o.pk: label(o) for o in model.objects.filter(pk__in=ids)} if ids else {}

    return {
        "part": lookup(Part, {s.part_id for s in silences}, lambda o: o.full_name),
        "part_category": lookup(
            PartCategory, {s.part_category_id for s in silences}, lambda o: o.pathstring
        ),
        "location": lookup(
            StockLocation, {s.location_id for s in silences}, lambda o: o.pathstring
        ),
    }
