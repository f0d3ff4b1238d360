"""InvenTree's built-in email method kept out of the way of the email Notify Plus sends.

InvenTree's email method is mandatory and always active. At the moment of each notification,
while Notify Plus is loaded and active, it is told to skip the recipients Notify Plus answers
for (:func:`users_taken`: everyone when a switch stops the notification, else those whose
email Notify Plus durably queued or deliberately does not repeat; see ``consent``). Nothing
is written to InvenTree: deactivate, uninstall or delete the package and InvenTree's method
behaves exactly as without Notify Plus from the next notification on.

The skip is a wrapper around ``InvenTreeEmailNotifications.send_notification`` installed when
the plugin module is imported (InvenTree has no hook that lets one notification method decide
for another); the wrapper calls the original unchanged whenever Notify Plus does not answer
for the email, and whenever anything in Notify Plus fails.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from .consent import CORE_EMAIL_SLUG, SLUG

logger = logging.getLogger("inventree")


def users_taken(target: Any, category: Any, users: list, context: dict) -> set[int]:
    """The recipients whose email Notify Plus answers for in this notification.

    Empty unless Notify Plus is active (in the database, not just a registry that may lag)
    and its intake succeeded. Then: everyone when a switch stops the notification, else
    (ready, delivering this category, Email on) the recipients it queued or deliberately does
    not repeat.
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


def _guarded(original: Any) -> Any:
    @functools.wraps(original)
    def send_notification(self: Any, target: Any, category: Any, users: list, context: dict):
        taken: set[int] = set()
        try:
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
    Called when the plugin module is imported and each time the registry creates the plugin.
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
