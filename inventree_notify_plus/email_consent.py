"""Who emails whom: each user's consent, and InvenTree's built-in email kept out of the way.

InvenTree's email method is mandatory and always active. Notify Plus never writes InvenTree's
per-user *Allow email notifications* setting; it reads it as the user's consent. Instead, at
the moment of each notification, while Notify Plus is loaded, active and has durably queued
that notification's email, InvenTree's method is told to skip those recipients. Nothing is
left behind that could keep InvenTree's email off: deactivate, uninstall or delete the package
and InvenTree's method behaves exactly as without Notify Plus from the next notification on.

The skip is a wrapper around ``InvenTreeEmailNotifications.send_notification`` installed when
this package is imported (InvenTree has no hook that lets one notification method decide for
another); the wrapper calls the original unchanged whenever Notify Plus does not answer for
the email.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger("inventree")

SLUG = "notify-plus"
CORE_EMAIL_SLUG = "inventree-email-notification"
CORE_KEY = "NOTIFY_BY_EMAIL"
OWN_KEY = "NOTIFY_PLUS_EMAIL"

INHERIT, ON, OFF = "inherit", "on", "off"
CHOICES = (INHERIT, ON, OFF)
# Notify Plus 1.0 stored a boolean that defaulted to on: a stored "True" may be that default,
# not a choice the user made, so it counts as 'inherit' (never email someone who said no).
_LEGACY = {"true": INHERIT, "1": INHERIT, "false": OFF, "0": OFF}
# Notify Plus 1.0 switched InvenTree's setting off and marked the users it did that to.
V1_HANDOVER_MARK = "_EMAIL_HANDED_OVER"


def own_choice(stored: str | None) -> str:
    """A stored Notify Plus email choice, legacy values included."""
    value = (stored or "").strip().lower()
    return value if value in CHOICES else _LEGACY.get(value, INHERIT)


def wants(own: str | None, core: str | None) -> bool:
    """Effective consent: Notify Plus's own choice, else InvenTree's switch (default on)."""
    choice = own_choice(own)
    if choice != INHERIT:
        return choice == ON
    return (core or "True").strip().lower() not in ("false", "0", "no", "off")


def stored_choices(users: Iterable[Any]) -> dict[tuple[int, str], str]:
    """Every stored user setting of Notify Plus, and InvenTree's email switch, in one query."""
    from plugin.models import PluginUserSetting

    ids = [u.pk for u in users]
    rows = PluginUserSetting.objects.filter(
        user_id__in=ids, plugin__key__in=[SLUG, CORE_EMAIL_SLUG]
    )
    return {(row.user_id, row.key): row.value for row in rows.only("user_id", "key", "value")}


def wants_email(plugin: Any, users: Iterable[Any]) -> dict[int, bool]:
    """Each user's effective choice (for the UI and the preview)."""
    users = list(users)
    stored = stored_choices(users)
    return {u.pk: wants(stored.get((u.pk, OWN_KEY)), stored.get((u.pk, CORE_KEY))) for u in users}


def summary(plugin: Any) -> dict[str, int]:
    """Active users with an address: whom Notify Plus emails, who keeps InvenTree's, none."""
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.filter(is_active=True).exclude(email=""))
    choices = wants_email(plugin, users)
    yes = sum(choices.values())
    if plugin.owns_email():
        return {"notify_plus": yes, "inventree": 0, "no_email": len(users) - yes}
    stored = stored_choices(users)
    core_on = sum(wants(None, stored.get((u.pk, CORE_KEY))) for u in users)
    return {"notify_plus": 0, "inventree": core_on, "no_email": len(users) - core_on}


def users_taken(target: Any, category: Any, users: list, context: dict) -> set[int]:
    """The recipients whose email Notify Plus answers for in this notification.

    Empty unless Notify Plus is active (in the database, not just a registry that may lag),
    ready, handles this category by email and its intake succeeded (the deliveries are in the
    outbox, or deliberately not repeated).
    """
    from plugin import registry

    plugin = registry.get_plugin(SLUG, active=None)
    if plugin is None:
        return set()
    from .intake import accept_once

    outcome = accept_once(plugin, target, category, users, context)
    if not outcome.owns_email:
        return set()
    return {u.pk for u in users if u is not None}


def undo_v1_handover() -> int:
    """Give InvenTree's email back to the users Notify Plus 1.0 switched it off for.

    Restores exactly the users it marked, and only the value it changed.
    """
    from plugin.models import PluginConfig, PluginUserSetting

    marks = PluginUserSetting.objects.filter(plugin__key=SLUG, key=V1_HANDOVER_MARK)
    ids = list(marks.values_list("user_id", flat=True))
    if not ids:
        return 0
    core = PluginConfig.objects.filter(key=CORE_EMAIL_SLUG).first()
    if core is not None:
        PluginUserSetting.objects.filter(plugin=core, key=CORE_KEY, user_id__in=ids).update(
            value="True"
        )
    marks.delete()
    logger.info("Notify Plus: gave InvenTree's email back to %s user(s) (1.0 handover)", len(ids))
    return len(ids)


_v1_undone = False


def _guarded(original: Any) -> Any:
    @functools.wraps(original)
    def send_notification(self: Any, target: Any, category: Any, users: list, context: dict):
        global _v1_undone
        taken: set[int] = set()
        try:
            if not _v1_undone:
                undo_v1_handover()
                _v1_undone = True
            taken = users_taken(target, category, list(users), context or {})
        except Exception:  # whatever happens, InvenTree's email goes out as without us
            logger.exception("Notify Plus: could not take over email; InvenTree sends it")
            taken = set()
        if taken:
            users = [u for u in users if u is None or u.pk not in taken]
        return original(self, target, category, users, context)

    send_notification.notify_plus_guard = True  # type: ignore[attr-defined]
    return send_notification


def guard_core_email() -> bool:
    """Install the wrapper on InvenTree's email method (idempotent); False outside InvenTree.

    InvenTree re-executes its built-in plugin modules each time it collects plugins, so the
    class its registry instantiated is not always the one an import returns: both are guarded.
    Called when this package is imported and each time the registry creates the plugin.
    """
    try:
        from plugin import registry
        from plugin.builtin.integration.core_notifications import InvenTreeEmailNotifications
    except ImportError:  # not inside InvenTree (ring-1 tests, the demo)
        return False
    classes = {InvenTreeEmailNotifications}
    current = getattr(registry, "plugins_full", {}).get(CORE_EMAIL_SLUG)
    if current is not None:
        classes.add(type(current))
    for cls in classes:
        if not getattr(cls.send_notification, "notify_plus_guard", False):
            cls.send_notification = _guarded(cls.send_notification)
    return True
