"""Email threads: a stable Message-ID for every email, a recovery threaded under its announcement.

- Every email's ``Message-ID`` is derived from what the message is (the destination and the
  notices it carries) and the site's domain, ``make_msgid``-style (``<id@domain>``), not from a
  clock or a random number: a retry of the same message after an unknown outcome carries the
  same id, so a mail client that got it twice shows it once, and the outbox keeps it
  (``SendResult.external_id`` -> ``Delivery.external_id``) for what follows.
- A single-notice email that continues an episode (a recovery, state ``resolved``; a reminder)
  carries ``In-Reply-To`` and ``References`` = the Message-ID of the email that announced that
  episode to the same person (the sent email delivery of kind 'notice' with that episode and
  destination), so mail clients show one thread per episode. It is looked up when the email is
  sent: by then the announcement has been sent (or never will be, and nothing is threaded).
- A digest threads with nothing: it answers no single episode.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..notice import Notice, stable_uid

logger = logging.getLogger("inventree")

# States of a notice that continue an episode an earlier email announced.
THREADED_STATES = frozenset({"resolved", "reminder"})
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+$")


def domain_of(site_url: str) -> str:
    """The site's host name for the right-hand side of a Message-ID (the machine's as fallback)."""
    host = urlsplit(site_url).hostname if site_url else ""
    if host and _DOMAIN.match(host):
        return host
    from django.core.mail.utils import DNS_NAME

    fallback = str(DNS_NAME)
    return fallback if _DOMAIN.match(fallback) else "localhost"


def message_id(destination_key: str, notices: Sequence[Notice], domain: str) -> str:
    """The Message-ID of the message carrying ``notices`` to ``destination_key``.

    The same message (a retry) gets the same id; another destination or another set of
    notices another one.
    """
    identity = stable_uid("email-message", destination_key, *sorted(n.uid for n in notices))
    return f"<notify-plus.{identity}@{domain}>"


def episode_of(notices: Sequence[Notice]) -> str:
    """The episode a message continues, or '' (a digest, a first announcement, no episode)."""
    if len(notices) != 1:
        return ""
    notice = notices[0]
    return notice.episode if notice.state in THREADED_STATES else ""


def original_message_id(destination_key: str, episode: str, exclude_uid: str = "") -> str:
    """The Message-ID of the sent email that announced ``episode`` to ``destination_key``.

    '' when there is none (not sent, sent before Message-IDs were kept) or the lookup fails:
    the email then goes out unthreaded rather than not at all.
    """
    if not episode:
        return ""
    try:
        from ..models import Delivery

        found = (
            Delivery.objects.filter(
                channel="email",
                destination=destination_key,
                episode=episode,
                kind=Delivery.Kind.NOTICE,
                status=Delivery.Status.SENT,
            )
            .exclude(external_id="")
            .exclude(notice_uid=exclude_uid)
            .order_by("sent_at", "pk")
            .values_list("external_id", flat=True)
            .first()
        )
    except Exception:
        logger.exception("Notify Plus: could not find the email that announced %s", episode)
        return ""
    return found or ""


def thread_headers(original: str) -> dict[str, str]:
    """The headers that put a reply into ``original``'s thread (RFC 5322 section 3.6.4)."""
    return {"In-Reply-To": original, "References": original} if original else {}
