"""The dispatcher InvenTree's worker runs, configured from the plugin's settings (InvenTree edge).

The retry policy and the grouping interval as stored, the channels rendering with this
instance's name and site URL, the destinations resolved with InvenTree's own address lookup,
and the database's clock (the outbox's default). The outbox (and its models) is imported only
inside functions: only where app integration is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from ..channels import CHANNELS, Channel, RenderContext

logger = logging.getLogger("inventree")


def active_plugin() -> Any:
    """The active Notify Plus plugin in this process's registry, or None."""
    from plugin import registry

    return registry.get_plugin("notify-plus")


def render_context() -> RenderContext:
    """Instance name and site URL from InvenTree's settings."""
    from common.settings import get_global_setting

    return RenderContext(
        instance_name=str(get_global_setting("INVENTREE_INSTANCE", "InvenTree") or "InvenTree"),
        site_url=str(getattr(settings, "SITE_URL", "") or ""),
    )


def channels(config: Any = None) -> dict[str, Channel]:
    """One instance of each channel, rendering with this instance's name.

    With the routing ``config``, the Apprise channel knows each destination's service, so each
    gets that service's token bucket.
    """
    context = render_context()
    found = {kind: cls(context) for kind, cls in CHANNELS.items()}
    if config is not None:
        found["apprise"].urls = {  # type: ignore[attr-defined]
            d.key: d.url for d in config.destinations if d.kind == "apprise"
        }
    return found


def setting_int(plugin: Any, key: str, least: int) -> int:
    """An integer setting as stored, at least ``least``.

    0 stays 0 (then ``least`` applies), it never turns into the default: a stored value the
    admin cannot see replaced. Only a value that is not a number at all falls back to the
    declared default.
    """
    value = plugin.get_setting(key, cache=False)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = int(plugin.SETTINGS[key]["default"])
        logger.warning("Notify Plus: setting %s is not a number; using %s", key, number)
    return max(least, number)


def build_dispatcher(plugin: Any, on_claim: Callable[[datetime], None] | None = None) -> Any:
    """A dispatcher configured from the plugin settings, on the database's clock.

    ``on_claim`` is called with the first claim's expiry (the wake-up schedules a drain then).
    """
    from InvenTree.helpers_email import get_email_for_user

    from ..outbox.destinations import SettingsDirectory
    from ..outbox.dispatcher import Dispatcher
    from ..outbox.retry import RetryPolicy

    policy = RetryPolicy(
        max_attempts=setting_int(plugin, "RETRY_MAX_ATTEMPTS", least=1),
        max_age=timedelta(hours=setting_int(plugin, "RETRY_MAX_HOURS", least=1)),
    )
    config = plugin.routing_config()
    dispatcher = Dispatcher(
        directory=SettingsDirectory(config, get_email_for_user),
        channels=channels(config),
        policy=policy,
        group_interval=timedelta(seconds=setting_int(plugin, "GROUP_INTERVAL", least=0)),
        on_claim=on_claim,
    )
    from .silences import mention_ids, still_true

    dispatcher.mentions_of = mention_ids  # a snoozed user's mentions leave channel posts
    dispatcher.still_true = still_true  # a silence's end announces only what still holds
    return dispatcher


def email_dispatcher() -> Any:
    """A dispatcher for email only: every user resolved, no grouping wait.

    Needs no plugin instance (the final email goes out while the plugin is being deactivated):
    the retry settings are read from the database.
    """
    from InvenTree.helpers_email import get_email_for_user

    from ..outbox.destinations import SettingsDirectory
    from ..outbox.dispatcher import Dispatcher
    from ..outbox.retry import RetryPolicy
    from ..routing.config import RoutingConfig

    policy = RetryPolicy(
        max_attempts=max(1, _stored_int("RETRY_MAX_ATTEMPTS", 10)),
        max_age=timedelta(hours=max(1, _stored_int("RETRY_MAX_HOURS", 24))),
    )
    return Dispatcher(
        directory=SettingsDirectory(RoutingConfig(), get_email_for_user),
        channels={"email": channels()["email"]},
        policy=policy,
        group_interval=timedelta(0),
    )


def _stored_int(key: str, default: int) -> int:
    """A plugin setting read without the plugin instance (the registry may not have it)."""
    from plugin.models import PluginSetting

    raw = PluginSetting.objects.filter(plugin__key="notify-plus", key=key).values_list(
        "value", flat=True
    )
    try:
        return int(raw[0]) if raw else default
    except (TypeError, ValueError):
        return default
