"""InvenTree's own Slack method (``InvenTreeSlackNotifications``), seen from Notify Plus.

Left active beside Notify Plus it posts every notice a second time; Health and the log say so
and how to fix it (Health can deactivate it for a superuser).
"""

from __future__ import annotations

from typing import Any

INVENTREE_SLACK = "inventree-slack-notification"


class InvenTreeSlack:
    """InvenTree's own Slack method (``InvenTreeSlackNotifications``), seen from Notify Plus.

    Left active beside Notify Plus it posts every notice a second time (one ``requests.post``
    per notification, to its own webhook). Deactivating it is the fix: InvenTree's plugin
    settings, or ``PATCH /api/plugins/inventree-slack-notification/activate/ {"active": false}``
    (superusers), which the Health panel's button calls.
    """

    def __init__(self, active: bool, webhook_set: bool) -> None:
        self.active, self.webhook_set = active, webhook_set

    @property
    def warning(self) -> str:
        """What it costs and how to fix it, for Health and the log."""
        fix = (
            "Deactivate it: Settings > Plugins > 'InvenTree Slack Notifications' "
            f"({INVENTREE_SLACK}) > Deactivate, or 'Deactivate' here in Health (superusers)."
        )
        if self.webhook_set:
            return (
                "InvenTree's own Slack method (InvenTree Slack Notifications) is active beside "
                "Notify Plus: every notice is posted twice, once by each. " + fix
            )
        return (
            "InvenTree's own Slack method (InvenTree Slack Notifications) is active beside "
            "Notify Plus; it posts nothing while its webhook URL is empty, but once one is set "
            "every notice is posted twice. " + fix
        )

    def as_dict(self) -> dict[str, Any]:
        """For the Health answer (no URL, only whether one is set)."""
        return {
            "slug": INVENTREE_SLACK,
            "active": self.active,
            "webhook_set": self.webhook_set,
            "deactivate_url": f"/api/plugins/{INVENTREE_SLACK}/activate/",
        }


def inventree_slack() -> InvenTreeSlack:
    """Whether InvenTree's own Slack method is active, and whether it has a webhook URL."""
    from plugin import registry

    plugin = registry.get_plugin(INVENTREE_SLACK, active=True)
    if plugin is None:
        return InvenTreeSlack(active=False, webhook_set=False)
    try:
        url = plugin.get_setting("NOTIFICATION_SLACK_URL", cache=False)
    except Exception:  # its settings table unreadable: say it is active, not what it holds
        url = ""
    return InvenTreeSlack(active=True, webhook_set=bool((url or "").strip()))
