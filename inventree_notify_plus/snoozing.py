"""Signed snooze links: 'not now' from the message itself, without asking an admin.

A link carries (user id or none, episode, period, random nonce), signed with Django's
``TimestampSigner`` under its own salt, so a token made for anything else (a password reset, a
session) is no snooze link, and a link is refused after ``LINK_LIFETIME``.

- Email links are bound to their recipient: only that user may confirm them.
- Slack and Discord posts are shared by everyone in the channel, so their links are bound to
  the episode only; whoever signs in and confirms is the one snoozed.

Each confirmation is stored with a token derived from the nonce and the user (``Snooze.token``
is unique), so a link snoozes each user once: a replay is refused. Needs Django (its signing
and settings) but no InvenTree: channels call :func:`links` when they render.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

from .notice import Notice

SALT = "inventree_notify_plus.snooze"
LINK_LIFETIME = timedelta(days=7)
PERIODS: dict[str, tuple[timedelta, str]] = {
    "1d": (timedelta(days=1), "Snooze 1 day"),
    "1w": (timedelta(weeks=1), "Snooze 1 week"),
}
PATH = "/plugin/notify-plus/snooze/"


class LinkRefusedError(Exception):
    """A snooze link that cannot be used, with the HTTP status and the reason to show."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SnoozeLink:
    """What a valid link asks for."""

    user_id: int | None
    episode: str
    period: str
    nonce: str
    title: str = ""
    object_ref: str = ""

    @property
    def duration(self) -> timedelta:
        """How long the snooze lasts."""
        return PERIODS[self.period][0]

    @property
    def label(self) -> str:
        """'Snooze 1 day' or 'Snooze 1 week'."""
        return PERIODS[self.period][1]

    def token_for(self, user_id: int) -> str:
        """The stored token of this link confirmed by ``user_id`` (unique: a replay is refused)."""
        return hashlib.sha256(f"{self.nonce}:{user_id}".encode()).hexdigest()


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def sign(
    episode: str, period: str, user_id: int | None = None, title: str = "", object_ref: str = ""
) -> str:
    """A signed, URL-safe token for one snooze link (a fresh nonce each time)."""
    if period not in PERIODS:
        raise ValueError(f"unknown snooze period '{period}'")
    payload = {
        "u": user_id,
        "e": episode,
        "p": period,
        "n": secrets.token_urlsafe(12),
        "t": title[:120],
        "o": object_ref[:200],
    }
    return _signer().sign_object(payload, compress=True)


def verify(token: str) -> SnoozeLink:
    """The link's request, or :class:`LinkRefusedError` (400 forged, 410 expired)."""
    try:
        data = _signer().unsign_object(token, max_age=LINK_LIFETIME)
    except signing.SignatureExpired as exc:
        raise LinkRefusedError(
            410, "This snooze link has expired (links work for 7 days). Use a newer message."
        ) from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkRefusedError(
            400, "This is not a valid snooze link (it may be incomplete)."
        ) from exc
    try:
        link = SnoozeLink(
            user_id=int(data["u"]) if data.get("u") is not None else None,
            episode=str(data["e"]),
            period=str(data["p"]),
            nonce=str(data["n"]),
            title=str(data.get("t", "")),
            object_ref=str(data.get("o", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LinkRefusedError(400, "This is not a valid snooze link.") from exc
    if link.period not in PERIODS or not link.episode:
        raise LinkRefusedError(400, "This is not a valid snooze link.")
    return link


def links(notice: Notice, site_url: str, user_id: int | None = None) -> list[tuple[str, str]]:
    """('Snooze 1 day', url), ('Snooze 1 week', url) for a notice that has an episode.

    Absolute URLs on InvenTree's site URL; none when the notice has no episode, is the end of
    one (nothing left to snooze) or the site URL is unknown. ``user_id`` binds the links to
    an email's recipient; channel posts leave it out.
    """
    if not notice.episode or notice.state == "resolved" or not site_url:
        return []
    base = site_url.rstrip("/") + PATH
    return [
        (label, f"{base}{sign(notice.episode, key, user_id, notice.title, notice.object_ref)}/")
        for key, (_, label) in PERIODS.items()
    ]


def user_of(destination_key: str) -> int | None:
    """The user id in an email destination key ('email:user:12'), else None."""
    kind, _, rest = destination_key.partition(":")
    tail = rest.rsplit(":", 1)[-1]
    return int(tail) if kind == "email" and tail.isdigit() else None
