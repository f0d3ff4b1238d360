"""Who emails whom: each user's consent, the switches, and InvenTree's built-in email kept out of the way.

InvenTree's email method is mandatory and always active. Notify Plus never writes InvenTree's
per-user *Allow email notifications* setting; it reads it as the user's consent. Instead, at
the moment of each notification, while Notify Plus is loaded and active, InvenTree's method is
told to skip the recipients Notify Plus answers for. Nothing is left behind that could keep
InvenTree's email off: deactivate, uninstall or delete the package and InvenTree's method
behaves exactly as without Notify Plus from the next notification on.

Whom Notify Plus answers for, per notification, while it is active:

- *Send notifications* (``NOTIFICATIONS_ENABLE``) off: everyone. Nobody is emailed, by Notify
  Plus or by InvenTree's method, and nothing goes to Slack or Discord; InvenTree's bell is left
  alone. *Low stock notices* off: the same, for low-stock notices (and their recovery). The
  switches mean what InvenTree's documentation says ("Enable notifications"); deactivating the
  plugin is how an admin goes back to InvenTree's own email.
- Otherwise, for a category Notify Plus delivers with *Email* on: the recipients whose email it
  durably queued (or deliberately does not repeat). With *Email* off, its tables missing, or
  an error in its intake: nobody, InvenTree's email goes out as without Notify Plus.

Email Notify Plus has already taken (queued, so InvenTree's method skipped it) is owed to its
recipient; a switch changes what Notify Plus takes from then on, never what it took. While
Notify Plus is active with *Send notifications* and *Email* on, a queued email goes when it is
due (at once, in a digest, after quiet hours). The moment Notify Plus stops emailing (the
plugin is deactivated, *Email* or *Send notifications* is switched off) every email it holds
is due at once and goes out as one final digest per recipient (``tasks.flush_email``, run by
the worker, with or without the plugin active). It is never held until a reactivation,
never skipped, never sent twice (each row is claimed once and marked sent).

The skip is a wrapper around ``InvenTreeEmailNotifications.send_notification`` installed when
this package is imported (InvenTree has no hook that lets one notification method decide for
another); the wrapper calls the original unchanged whenever Notify Plus does not answer for
the email. Activation and deactivation are seen through ``post_save`` of InvenTree's
``PluginConfig`` (every path that changes ``active`` saves it: the plugin manager's
``activate``, ``registry.set_plugin_state``, the admin's bulk actions), switch changes through
``post_save`` of ``PluginSetting`` (the API, the admin and ``set_setting`` all save it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .inventree_notices import LOW_STOCK, RECOVERED
from .plugin_settings import TRUE

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
# Switching one of these off stops Notify Plus emailing: what it holds goes out at once.
STOP_EMAIL_SETTINGS = ("NOTIFICATIONS_ENABLE", "EMAIL_ENABLE")


def switched_off(category: str, settings: Mapping[str, Any]) -> bool:
    """Whether the admin's switches stop this notification for everyone.

    Then nobody gets it by email (InvenTree's email skips every recipient), Slack or Discord;
    InvenTree's bell still shows it.
    """
    if not settings["NOTIFICATIONS_ENABLE"]:
        return True
    return category in (LOW_STOCK, RECOVERED) and not settings["NOTIFICATIONS_LOW_STOCK"]


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
    """Active users with an address: whom Notify Plus emails, who keeps InvenTree's, none.

    With the master switch off nobody is emailed (InvenTree's email included).
    """
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.filter(is_active=True).exclude(email=""))
    if not plugin.current_settings()["NOTIFICATIONS_ENABLE"]:
        return {"notify_plus": 0, "inventree": 0, "no_email": len(users)}
    choices = wants_email(plugin, users)
    yes = sum(choices.values())
    if plugin.owns_email():
        return {"notify_plus": yes, "inventree": 0, "no_email": len(users) - yes}
    stored = stored_choices(users)
    core_on = sum(wants(None, stored.get((u.pk, CORE_KEY))) for u in users)
    return {"notify_plus": 0, "inventree": core_on, "no_email": len(users) - core_on}


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


def undo_v1_handover() -> int:
    """Give InvenTree's email back to the users Notify Plus 1.0 switched it off for.

    Restores exactly the users it marked, and only the value it changed. Runs in migration
    0006 and on every activation (idempotent: one query when nothing is marked).
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


# -- activation, deactivation and the switches that stop email -------------------------------


def on_activated() -> None:
    """The plugin was activated: the 1.0 hand-back, if a 1.0 install left marks."""
    undo_v1_handover()


def on_email_stopped(reason: str) -> None:
    """Notify Plus stopped emailing: have the worker send what it holds, once the change commits.

    Offloaded by dotted path, so the worker runs it whether or not its registry still has the
    plugin active (see ``tasks.flush_email``).
    """
    from django.db import transaction

    from .tasks import FLUSH_TASK, offload

    def flush() -> None:
        try:
            offload(FLUSH_TASK)
        except Exception:
            logger.exception("Notify Plus: could not queue the final email digests (%s)", reason)

    logger.info("Notify Plus: %s; queued email goes out at once", reason)
    transaction.on_commit(flush)


def _safely(action: Any, *args: Any) -> None:
    """Run ``action`` in a savepoint: an error never breaks the admin's save."""
    from django.db import transaction

    try:
        with transaction.atomic():
            action(*args)
    except Exception:
        logger.exception("Notify Plus: %s failed", getattr(action, "__name__", action))


def _config_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw") or getattr(instance, "key", None) != SLUG:
        return
    if instance.active:
        _safely(on_activated)
    else:
        _safely(on_email_stopped, "Notify Plus was deactivated")


def _setting_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if kwargs.get("raw") or instance.key not in STOP_EMAIL_SETTINGS:
        return
    if str(instance.value).strip().lower() in TRUE:
        return
    if getattr(instance.plugin, "key", None) != SLUG:
        return
    _safely(on_email_stopped, f"{instance.key} was switched off")


def watch_plugin_state() -> bool:
    """Connect the activation/deactivation and switch handlers (idempotent); False outside InvenTree."""
    try:
        from django.db.models.signals import post_save
        from plugin.models import PluginConfig, PluginSetting
    except ImportError:  # not inside InvenTree (ring-1 tests, the demo)
        return False
    post_save.connect(_config_saved, sender=PluginConfig, dispatch_uid="notify_plus_config")
    post_save.connect(_setting_saved, sender=PluginSetting, dispatch_uid="notify_plus_setting")
    return True
