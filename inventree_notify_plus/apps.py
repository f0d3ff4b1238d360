"""Django app of the plugin (installed by InvenTree's app integration, or by tests)."""

import logging

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class NotifyPlusConfig(AppConfig):
    """The outbox tables live in this app."""

    name = "inventree_notify_plus"
    label = "inventree_notify_plus"
    verbose_name = "Notify Plus"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hand email over for users created from now on, before their first notification."""
        post_save.connect(
            _new_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="notify_plus_new_user"
        )


def _new_user(sender, instance, created: bool, **kwargs) -> None:
    """A new user: Notify Plus emails them (when active in InvenTree with email on)."""
    if not created:
        return
    try:
        from plugin import registry
    except ImportError:  # plain Django (ring-1 tests): no InvenTree to hand over from
        return
    plugin = registry.get_plugin("notify-plus")
    if plugin is None or not (
        plugin.get_setting("EMAIL_ENABLE", cache=False)
        and plugin.get_setting("NOTIFICATIONS_ENABLE", cache=False)
    ):
        return
    from .intake import hand_over_email

    try:
        hand_over_email([instance])
    except Exception:  # never break creating a user; the minutely sweep catches up
        logging.getLogger("inventree").exception(
            "Notify Plus: email handover for a new user failed"
        )
