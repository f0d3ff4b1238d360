"""Quiet hours and time zones: when a person's email may go, in their own local time.

Quiet hours are whole hours, ``start-end`` (``22-07`` spans midnight); email due inside them
waits until they end. A time zone is an IANA name; one stored before it was checked, or no
longer known, counts as UTC rather than stopping delivery.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from .config import Recipient


def quiet_hours_end(person: Recipient, local: datetime) -> datetime:
    """Move a local time out of the person's quiet hours (held to the end of the period)."""
    start, end = person.quiet_start, person.quiet_end
    if start is None or end is None or start == end:
        return local
    hour = local.hour
    inside = start <= hour < end if start < end else hour >= start or hour < end
    if not inside:
        return local
    end_today = datetime.combine(local.date(), time(end), tzinfo=local.tzinfo)
    return end_today if end_today > local else end_today + timedelta(days=1)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; UTC when it is empty or unknown (a stored bad value)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """'22-07' -> (22, 7); empty -> None. Hours 0-23, start and end differ."""
    text = (text or "").strip()
    if not text:
        return None
    start, sep, end = text.partition("-")
    try:
        hours = (int(start), int(end))
    except ValueError:
        hours = (-1, -1)
    if not sep or not all(0 <= h <= 23 for h in hours) or hours[0] == hours[1]:
        raise ValidationError(
            _("Write quiet hours as start-end in whole hours, e.g. 22-07 (got '{text}').").format(
                text=text
            ),
            code="invalid_quiet_hours",
        )
    return hours


def validate_timezone(name: str) -> None:
    """An IANA time zone name such as Europe/Berlin."""
    if not name:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            _(
                "Unknown time zone '{name}'; use a name like Europe/Berlin or America/New_York."
            ).format(name=name),
            code="invalid_timezone",
        ) from exc


def parse_quiet_hours_safe(text: str) -> tuple[int, int] | None:
    """Like :func:`parse_quiet_hours`, but a stored bad value means 'no quiet hours'."""
    try:
        return parse_quiet_hours(text)
    except ValidationError:
        return None
