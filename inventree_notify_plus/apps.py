"""Django app of the plugin (installed by InvenTree's app integration, or by tests)."""

from django.apps import AppConfig


class NotifyPlusConfig(AppConfig):
    """The outbox, the delivery log, conditions and location subscriptions live in this app."""

    name = "inventree_notify_plus"
    label = "inventree_notify_plus"
    verbose_name = "Notify Plus"
    default_auto_field = "django.db.models.BigAutoField"
