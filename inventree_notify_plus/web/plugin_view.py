"""The base of every endpoint: the active Notify Plus, or 503 with the reason.

A Notify Plus that is not active or not loaded answers 503 saying which and what to do,
instead of a 500 from a missing plugin.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.views import APIView

from .permissions import IsStaffWithScope

SLUG = "notify-plus"


class PluginUnavailable(APIException):
    """Notify Plus is not active or failed to load: the endpoints cannot answer (yet)."""

    status_code = 503
    default_code = "plugin_unavailable"
    default_detail = "Notify Plus is not available."


def active_plugin() -> Any:
    """The active plugin instance, or a 503 that says why there is none."""
    from plugin import registry

    plugin = registry.get_plugin(SLUG)
    if plugin is not None:
        return plugin
    if registry.get_plugin(SLUG, active=None) is not None:
        raise PluginUnavailable(
            "Notify Plus is installed but not active: activate it in Settings > Plugins."
        )
    raise PluginUnavailable(
        "Notify Plus is not loaded in this InvenTree process (plugin loading failed or plugins "
        "are disabled): see Settings > Plugins and InvenTree's error log."
    )


class NotifyPlusView(APIView):
    """An endpoint of the active Notify Plus: 503 with the reason when there is none."""

    permission_classes = [IsStaffWithScope]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After authentication and permissions: find the plugin (503 if it is not there)."""
        super().initial(request, *args, **kwargs)
        self.plugin = active_plugin()
