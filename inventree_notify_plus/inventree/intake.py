"""One InvenTree notification in: decide, build the notice, route it, queue its deliveries.

InvenTree calls every notification method for one notification, its own email method
included; both that method's guard (``core_email_guard``) and the plugin's
``send_notification`` ask for the intake of the same call, so it runs once and both act on the
same outcome.

The whole intake (every read of settings, readiness and recipients included) runs in one
savepoint: InvenTree calls it inside its own transaction, and on PostgreSQL an error there
would otherwise abort that transaction, and InvenTree's own email in the same call with it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..notice_categories import BUILD_SHORTFALL, LOW_STOCK
from ..outbox import store
from ..outbox.clock import database_now
from ..routing.config import RoutingConfig
from ..routing.plan import plan
from . import build_shortfall, consent, episodes, notices, on_order
from .notices import category_name
from .recipients import recipients_for
from .recovery import episode_bound
from .wakeup import BEST_EFFORT_TASK, offload, request_drain

logger = logging.getLogger("inventree")


@dataclass(frozen=True)
class Intake:
    """What Notify Plus did with one notification.

    ``owns_email``: every recipient's email is Notify Plus's to send or not (queued durably, or
    deliberately not repeated), so InvenTree's own email method skips them.
    """

    delivered: bool = False
    owns_email: bool = False


NOTHING = Intake()
# A switch stops the notification: nobody is emailed (InvenTree's email skips everyone).
SWITCHED_OFF = Intake(delivered=False, owns_email=True)


def accept(plugin: Any, target: Any, category: Any, users: list, context: dict) -> Intake:
    """Queue the deliveries of one notification (never raises for a missing table)."""
    settings = plugin.current_settings()
    name = category_name(category)
    if consent.switched_off(name, settings):
        return SWITCHED_OFF
    if not plugin.handles(name, settings):
        return NOTHING
    plugin.log_warnings_once(settings)
    config = plugin.routing_config(settings)
    if not plugin.outbox_ready():
        # No durable outbox: email stays with InvenTree, Slack/Discord go best effort.
        return _best_effort(plugin, target, category, users, context, config)
    part = context.get("part")
    # The outbox's clock: due times, like claims and pacing, are on the database's time, so an
    # app server whose clock is off neither delays nor hurries what it queues.
    now = database_now()
    with transaction.atomic():
        episode = ""
        cover = None
        if name == LOW_STOCK and part is not None and settings.get("LOW_STOCK_COUNT_ON_ORDER"):
            cover = on_order.coverage(part)
        # Covered by open orders: logged as skipped, and no episode starts (see on_order).
        covered = cover is not None and cover.covered
        if name == LOW_STOCK and part is not None and not covered:
            episode, new = episodes.begin(
                f"low_stock:part:{part.pk}", {"part": part.pk}, now=now, max_age=episode_bound()
            )
            if not new:
                logger.info(
                    "Notify Plus: part %s still low since %s, not repeated", part.pk, episode
                )
                return Intake(delivered=True, owns_email=config.email_enabled)
        build = context.get("build")
        if name == BUILD_SHORTFALL and build is not None:
            # Repeats while the shortfall lasts are not announced (see ``build_shortfall``).
            episode, new = build_shortfall.begin(build, list(context.get("lines") or []), now)
            if not new:
                logger.info(
                    "Notify Plus: build %s still short since %s, not repeated", build.pk, episode
                )
                return Intake(delivered=True, owns_email=config.email_enabled)
        notice = notices.notice_from_notification(target, category, context, episode)
        if cover is not None:
            notice = on_order.annotated(cover, notice, covered, now)
        if name == LOW_STOCK and part is not None:
            from .subscribers import location_managers

            locations, managers = location_managers(part, users)
            notice = replace(notice, scope={**notice.scope, "location_path": locations})
            users = [*users, *managers]
        planned = plan(notice, recipients_for(plugin, users), config, now)
        created = store.enqueue(notice, planned, now)
        if covered:
            on_order.skip_covered(notice.uid, cover.reason)
            return Intake(delivered=True, owns_email=config.email_enabled)
    if created:
        transaction.on_commit(request_drain)
    return Intake(delivered=bool(planned), owns_email=config.email_enabled)


def _best_effort(
    plugin: Any,
    target: Any,
    category: Any,
    users: list,
    context: dict,
    config: RoutingConfig,
) -> Intake:
    notice = notices.notice_from_notification(target, category, context)
    webhooks_only = replace(config, email_enabled=False)
    planned = plan(notice, recipients_for(plugin, users), webhooks_only, timezone.now())
    if planned:
        offload(
            BEST_EFFORT_TASK,
            notice.to_dict(),
            [asdict(p) | {"due_at": None} for p in planned],
        )
    return Intake(delivered=bool(planned), owns_email=False)


_last = threading.local()


def accept_once(plugin: Any, target: Any, category: Any, users: list, context: dict) -> Intake:
    """The intake of this notification, run once whichever method asks first.

    One ``trigger_notification`` call hands the same context object, category, target and
    users to every method; a failure means Notify Plus answers for nothing, so InvenTree's own
    email still goes out (the savepoint rolls back whatever the intake did, so InvenTree's
    transaction stays usable).
    """
    key = (category_name(category), frozenset(u.pk for u in users if u is not None))
    slot = getattr(_last, "slot", None)
    if slot is not None and slot[0] is context and slot[1] is target and slot[2] == key:
        return slot[3]
    try:
        with transaction.atomic():  # a savepoint inside InvenTree's transaction
            outcome = accept(plugin, target, category, users, context) if _active() else NOTHING
    except Exception:
        logger.exception("Notify Plus: could not queue '%s'; InvenTree's email sends it", key[0])
        outcome = NOTHING
    _last.slot = (context, target, key, outcome)
    return outcome


def _active() -> bool:
    """Active according to the database: a worker's registry may lag behind a deactivation."""
    from plugin.models import PluginConfig

    return PluginConfig.objects.filter(key="notify-plus", active=True).exists()
