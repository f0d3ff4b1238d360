"""What keeps Notify Plus from working fully, what it costs, and how to fix it.

InvenTree integrations switched off, migrations not applied, routes that no longer parse or
name a category InvenTree does not send, InvenTree's own Slack method posting every notice a
second time. Shown in Health and the delivery log, and said once in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from ..routing.config import unknown_category_problems
from .categories import route_categories
from .core_slack import inventree_slack

logger = logging.getLogger("inventree")

# InvenTree's global settings Notify Plus needs beyond app integration, and what it costs.
NEEDS = {
    "ENABLE_PLUGINS_SCHEDULE": "schedule integration is off: no retries, digests or cleanup",
    "ENABLE_PLUGINS_EVENTS": "event integration is off: stock recovery is noticed only by "
    "the sweep, and build orders are checked for short parts only when issued",
    "ENABLE_PLUGINS_URL": "URL integration is off: no delivery log or test endpoints",
    "ENABLE_PLUGINS_INTERFACE": "interface integration is off: no Notify Plus panels on "
    "parts, categories and locations, no 'My notifications'",
}
LOG_EVERY = 60.0  # seconds between two checks for the log: each reads InvenTree's settings


def integration_warnings(plugin: Any, settings: Mapping[str, Any] | None = None) -> list[str]:
    """Every warning that holds now (``settings``: the plugin's, if already read)."""
    from common.settings import get_global_setting

    warnings = plugin.readiness().problems()
    warnings += [text for key, text in NEEDS.items() if not get_global_setting(key, False)]
    config = plugin.routing_config(settings)
    warnings += [f"routes: {p}" for p in config.problems]
    warnings += [
        f"routes: {p}" for p in unknown_category_problems(config.routes, route_categories())
    ]
    if (slack := inventree_slack()).active:
        warnings.append(slack.warning)
    return warnings


_warned: set[str] = set()
_checked_at = 0.0  # when the warnings were last checked for the log (time.monotonic)


def log_warnings_once(plugin: Any, settings: Mapping[str, Any] | None = None) -> None:
    """Say each warning in the log once per process (it is also in the delivery log).

    Checked at most once a minute: it reads InvenTree's global settings.
    """
    global _checked_at
    now = time.monotonic()
    if now - _checked_at < LOG_EVERY:
        return
    _checked_at = now
    for text in integration_warnings(plugin, settings):
        if text not in _warned:
            _warned.add(text)
            logger.warning("Notify Plus: %s", text)
