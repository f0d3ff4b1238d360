"""Activation, deactivation and the switches that stop email, seen as InvenTree saves them.

Email Notify Plus has already taken (queued, so InvenTree's method skipped it) is owed to its
recipient; a switch changes what Notify Plus takes from then on, never what it took. While
Notify Plus is active with *Send notifications* and *Email* on, a queued email goes when it is
due (at once, in a digest, after quiet hours). The moment Notify Plus stops emailing (the
plugin is deactivated, *Email* or *Send notifications* is switched off) every email it holds
is due at once and goes out as one final digest per recipient (``tasks.flush_email``, run by
the worker, with or without the plugin active). It is never held until a reactivation,
never skipped, never sent twice (each row is claimed once and marked sent). Activation runs
the 1.0 hand-back (``handback``).

Activation and deactivation are seen through ``post_save`` of InvenTree's ``PluginConfig``
(every path that changes ``active`` saves it: the plugin manager's ``activate``,
``registry.set_plugin_state``, the admin's bulk actions), switch changes through ``post_save``
of ``PluginSetting`` (the API, the admin and ``set_setting`` all save it). The handlers are
connected when the plugin module is imported, in every process, active or not.
"""

from __future__ import annotations

import logging
from typing import Any

from .consent import SLUG
from .handback import undo_v1_handover
from .plugin_settings import TRUE

logger = logging.getLogger("inventree")

# Switching one of these off stops Notify Plus emailing: what it holds goes out at once.
STOP_EMAIL_SETTINGS = ("NOTIFICATIONS_ENABLE", "EMAIL_ENABLE")


def on_activated() -> None:
    """The plugin was activated: the 1.0 hand-back, if a 1.0 install left marks."""
    undo_v1_handover()


def on_email_stopped(reason: str) -> None:
    """Notify Plus stopped emailing: have the worker send what it holds, once the change commits.

    Offloaded by dotted path, so the worker runs it whether or not its registry still has the
    plugin active (see ``tasks.flush_email``).
    """
    from django.db import transaction

    from .wakeup import FLUSH_TASK, offload

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
