"""From an InvenTree notification to outbox rows (InvenTree edge).

Decides whether to notify (settings, low-stock condition already announced), builds the
notice, asks routing for deliveries and writes them in one transaction; the background worker
is asked to drain once the transaction commits.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import conditions, inventree_notices, outbox, routing
from .inventree_notices import BUILD_SHORTFALL, LOW_STOCK, category_name
from .tasks import offload, request_drain

logger = logging.getLogger("inventree")

CORE_EMAIL_SLUG = "inventree-email-notification"


def accept(plugin: Any, target: Any, category: Any, users: list, context: dict) -> bool:
    """Queue deliveries for one notification; True if anything is (or was) to be sent."""
    name = category_name(category)
    if name == LOW_STOCK and not plugin.get_setting("NOTIFICATIONS_LOW_STOCK", cache=False):
        return False
    if name not in (LOW_STOCK, BUILD_SHORTFALL) and not plugin.get_setting(
        "NOTIFICATIONS_OTHER", cache=False
    ):
        return False
    _warn_once(plugin)
    config = plugin.routing_config()
    part = context.get("part")
    locations: list[int] = []
    if name == LOW_STOCK and part is not None and plugin.outbox_ready():
        locations, managers = location_managers(part, users)
        users = [*users, *managers]
    recipients = recipients_for(plugin, users, context)
    now = timezone.now()

    if not plugin.outbox_ready():
        logger.warning(
            "Notify Plus: app integration is off, sending '%s' best effort without the outbox "
            "(no retries, no delivery log). Enable it in Settings > Plugins.",
            name,
        )
        notice = inventree_notices.notice_from_notification(target, category, context)
        planned = routing.plan(notice, recipients, config, now)
        if planned:
            offload(
                "inventree_notify_plus.tasks.send_best_effort",
                notice.to_dict(),
                [asdict(p) | {"due_at": None} for p in planned],
            )
        return bool(planned)

    with transaction.atomic():
        episode = ""
        if name == LOW_STOCK and part is not None:
            episode, new = conditions.begin(f"low_stock:part:{part.pk}", {"part": part.pk}, now=now)
            if not new:
                logger.info(
                    "Notify Plus: part %s still low since %s, not repeated", part.pk, episode
                )
                return True
        notice = inventree_notices.notice_from_notification(target, category, context, episode)
        if locations:
            notice = replace(notice, scope={**notice.scope, "location_path": locations})
        planned = routing.plan(notice, recipients, config, now)
        created = outbox.enqueue(notice, planned, now)
    if created:
        transaction.on_commit(request_drain)
    return bool(planned)


_warned: set[str] = set()


def _warn_once(plugin: Any) -> None:
    """Say in the log, once per process, which InvenTree integrations are off and the cost."""
    for text in plugin.integration_warnings():
        if text not in _warned:
            _warned.add(text)
            logger.warning("Notify Plus: %s (Settings > Plugins)", text)


def location_managers(part: Any, users: list) -> tuple[list[int], list]:
    """Locations holding the part, and their managers not already among ``users``.

    Managers are users subscribed to the location (or one above it) in Notify Plus, and the
    location's owners; like every recipient they need view permission on the part.
    """
    from users.permissions import check_user_permission

    from .subscribers import location_subscribers, stock_location_ids

    locations = stock_location_ids(part)
    known = {u.pk for u in users if u is not None}
    managers = [
        u
        for u in location_subscribers(locations)
        if u.pk not in known and check_user_permission(u, part, "view")
    ]
    return locations, managers


def recipients_for(
    plugin: Any, users: list, context: dict, hand_over: bool = True
) -> list[routing.Recipient]:
    """Each user with their Notify Plus preferences (two queries for any number of users).

    Email exactly once: InvenTree's own email method is always active and emails everybody in
    one message. Notify Plus switches its per-user 'Allow email notifications' off for the
    users it emails; where it was still on and InvenTree's method already ran for this
    notification, that email went out and Notify Plus does not send a second one.
    ``hand_over=False`` for dry runs that must change nothing.
    """
    from InvenTree.helpers_email import get_email_for_user
    from plugin.models import PluginUserSetting

    users = [u for u in users if u is not None and u.is_active]
    if not users:
        return []
    mine: dict[tuple[int, str], str] = {}
    for row in PluginUserSetting.objects.filter(plugin__key=plugin.slug, user__in=users):
        mine[(row.user_id, row.key)] = row.value
    core_off = set(
        PluginUserSetting.objects.filter(
            plugin__key=CORE_EMAIL_SLUG,
            key="NOTIFY_BY_EMAIL",
            user__in=users,
            value__in=["False", "false", "0"],
        ).values_list("user_id", flat=True)
    )
    email_on = bool(plugin.get_setting("EMAIL_ENABLE", cache=False))
    core_first = plugin.core_email_runs_first()
    core_sends = bool(context.get("template"))

    def pref(user: Any, key: str) -> str:
        value = mine.get((user.pk, key))
        return value if value is not None else str(plugin.USER_SETTINGS[key]["default"])

    result = []
    for user in users:
        email = get_email_for_user(user) or ""
        wants = pref(user, "NOTIFY_PLUS_EMAIL").lower() in ("true", "1", "yes")
        core_on = user.pk not in core_off
        if email_on and core_on:
            if core_first and core_sends and email:
                wants = False  # InvenTree's own email already reached this user
            if hand_over:
                hand_over_email([user])
        quiet = routing.parse_quiet_hours_safe(pref(user, "NOTIFY_PLUS_QUIET_HOURS"))
        result.append(
            routing.Recipient(
                user_id=user.pk,
                name=user.get_full_name() or user.get_username(),
                email=email,
                wants_email=wants,
                email_mode=pref(user, "NOTIFY_PLUS_EMAIL_MODE") or "immediate",
                slack_member_id=pref(user, "NOTIFY_PLUS_SLACK_MEMBER_ID").strip(),
                discord_user_id=pref(user, "NOTIFY_PLUS_DISCORD_USER_ID").strip(),
                timezone=pref(user, "NOTIFY_PLUS_TIMEZONE") or "UTC",
                quiet_start=quiet[0] if quiet else None,
                quiet_end=quiet[1] if quiet else None,
            )
        )
    return result


HANDED_OVER = "_EMAIL_HANDED_OVER"


def hand_over_email(users: Any) -> int:
    """Switch InvenTree's 'Allow email notifications' off for ``users`` (bulk, idempotent).

    Each user handed over is marked, so that :func:`hand_back_email` restores exactly them.
    Written through the setting model directly: InvenTree's ``set_user_setting`` passes the
    user as the 'change user' and silently ignores changes for users who are not staff.
    """
    from plugin import registry
    from plugin.models import PluginUserSetting

    core = registry.get_plugin(CORE_EMAIL_SLUG, active=None)
    ours = registry.get_plugin("notify-plus", active=None)
    config = core.plugin_config() if core is not None else None
    if config is None or ours is None:
        return 0
    users = list(users)
    already_off = set(
        PluginUserSetting.objects.filter(
            plugin=config,
            key="NOTIFY_BY_EMAIL",
            user_id__in=[u.pk for u in users],
            value__in=["False", "false", "0"],
        ).values_list("user_id", flat=True)
    )
    changed = 0
    for user in users:
        if user.pk not in already_off:
            PluginUserSetting.set_setting("NOTIFY_BY_EMAIL", False, None, user=user, plugin=config)
            PluginUserSetting.set_setting(
                HANDED_OVER, True, None, user=user, plugin=ours.plugin_config()
            )
            changed += 1
    if changed:
        logger.info("Notify Plus: took over email delivery for %s user(s)", changed)
    return changed


def hand_back_email() -> int:
    """Give email back to InvenTree's own method for every user Notify Plus took it from.

    Called while Notify Plus's email (or the whole plugin) is switched off, so nobody is left
    without email.
    """
    from plugin import registry
    from plugin.models import PluginUserSetting

    core = registry.get_plugin(CORE_EMAIL_SLUG, active=None)
    ours = registry.get_plugin("notify-plus", active=None)
    if core is None or ours is None:
        return 0
    marks = PluginUserSetting.objects.filter(plugin__key=ours.slug, key=HANDED_OVER).select_related(
        "user"
    )
    count = 0
    for mark in marks:
        PluginUserSetting.set_setting(
            "NOTIFY_BY_EMAIL", True, None, user=mark.user, plugin=core.plugin_config()
        )
        mark.delete()
        count += 1
    if count:
        logger.info("Notify Plus: gave email back to InvenTree for %s user(s)", count)
    return count


def check_recovery(plugin: Any, event: str = "", kwargs: dict | None = None) -> None:
    """End low-stock conditions whose part is no longer low.

    With an event: only the part it touched; without: every active condition (the sweep's
    fallback when event integration is off).
    """
    from part.models import Part

    active = {c.key for c in conditions.active("low_stock:part:")}
    if not active:
        return
    kwargs = kwargs or {}
    if not event:
        part_ids = {int(k.rsplit(":", 1)[-1]) for k in active}
    elif event.startswith("part_part."):
        part_ids = {int(kwargs.get("id", 0))}
    else:
        from stock.models import StockItem

        item = StockItem.objects.filter(pk=kwargs.get("id")).only("part_id").first()
        part_ids = {item.part_id} if item is not None else set()
    for part in Part.objects.filter(pk__in=part_ids):
        for p in part.get_ancestors(include_self=True):
            key = f"low_stock:part:{p.pk}"
            if key in active and not p.is_part_low_on_stock():
                announce_recovery(plugin, p, key)


def announce_recovery(plugin: Any, part: Any, key: str) -> None:
    """End the condition; announce it if the admin turned recovery notices on."""
    from InvenTree.helpers_model import construct_absolute_url

    from .subscribers import part_subscribers

    with transaction.atomic():
        if not conditions.end(key):
            return
        if not plugin.get_setting("NOTIFICATIONS_RECOVERY", cache=False):
            return
        since = conditions.Condition.objects.get(key=key).since.isoformat()
        notice = inventree_notices.low_stock_notice(
            part, construct_absolute_url(part.get_absolute_url()), episode=since, recovered=True
        )
        from users.permissions import check_user_permission

        users = [u for u in part_subscribers(part) if check_user_permission(u, part, "view")]
        planned = routing.plan(
            notice, recipients_for(plugin, users, {}), plugin.routing_config(), timezone.now()
        )
        created = outbox.enqueue(notice, planned)
    if created:
        transaction.on_commit(request_drain)
