"""InvenTree's bell agrees with the episode: when a notice resolves, its inbox messages are read.

When a low part recovers, or a build order's shortfall is covered, completed or cancelled,
InvenTree's own ``NotificationMessage``s about it (same target object, category
``part.notify_low_stock`` / ``build.stock_required``, created since the episode began) are
marked read: they move from the bell's unread count to the inbox's history, where they are
still listed with InvenTree's own text.

Why marked read and not given a "resolved" note: the unread count is what the bell shows,
and an unread alarm about something already over is exactly the noise to remove; the message
field is InvenTree's (250 characters, its own wording and translation), so appending to it
could cut its text and would be rendered by every client as if InvenTree had said it. The
resolution itself reaches people where they were told (the Discord/Slack message edited in
place, the threaded recovery email).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

logger = logging.getLogger("inventree")

# A message InvenTree's bell wrote in the same call, just before the episode began (its
# method ran first, or the app server's clock is behind the database's), belongs to it too.
# An earlier episode's messages were marked read when it ended.
MARGIN = timedelta(minutes=10)


def mark_read(target: Any, category: str, since: datetime) -> int:
    """Mark the unread bell messages about ``target`` in ``category`` since ``since`` as read.

    Returns how many were marked. Never raises: the bell is a courtesy, the resolution's
    deliveries must not fail because of it.
    """
    from common.models import NotificationMessage
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction

    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the caller's intact
            return NotificationMessage.objects.filter(
                target_content_type=ContentType.objects.get_for_model(target),
                target_object_id=str(target.pk),
                category=category,
                creation__gte=since - MARGIN,
                read=False,
            ).update(read=True)
    except Exception:
        logger.exception("Notify Plus: could not mark InvenTree's %s messages read", category)
        return 0
