"""Follow-ups of sent messages: a notice's resolution edits them, a reminder replies under them.

(Interface agreed for the parallel work on issues 17 and 19; implemented by the notice-life work.)
"""

from __future__ import annotations

from datetime import datetime

from ..notice import Notice


def follow_up(notice: Notice, kind: str, now: datetime | None = None) -> int:
    """Queue ``kind`` ('update' or 'reply') follow-ups of ``notice.episode``'s sent messages.

    One row per destination whose channel can edit (update) or thread (reply) and that was sent
    a message of the episode; returns how many rows are new. Same transaction rules as
    ``store.enqueue``: call it inside the transaction that decided.
    """
    # LOCAL STAND-IN (life-inventree branch only): no channel edits or threads here yet, so
    # there is nothing to follow up. The coordinator merges discord-life's real implementation.
    return 0
