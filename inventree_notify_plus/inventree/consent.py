"""Who Notify Plus emails: each user's consent and the admin's switches (pure rules).

Notify Plus never writes InvenTree's per-user *Allow email notifications* setting; it reads it
as the user's consent, unless the user chose otherwise in *Notify Plus: email me*
(:func:`wants`). The switches mean what InvenTree's documentation says:

- *Send notifications* (``NOTIFICATIONS_ENABLE``) off: nobody is emailed, by Notify Plus or by
  InvenTree's method, and nothing goes to Slack or Discord; InvenTree's bell is left alone.
  *Low stock notices* off: the same, for low-stock notices (and their recovery)
  (:func:`switched_off`). Deactivating the plugin is how an admin goes back to InvenTree's own
  email.
- Otherwise, for a category Notify Plus delivers with *Email* on, it emails the recipients who
  want email and InvenTree's method skips them (``core_email_guard``); with *Email* off, its
  tables missing, or an error in its intake, InvenTree's email goes out as without Notify Plus.

Email Notify Plus has already taken is owed to its recipient: what a switch or a deactivation
does to the email it holds is ``plugin_state``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..notice_categories import LOW_STOCK, RECOVERED

SLUG = "notify-plus"
CORE_EMAIL_SLUG = "inventree-email-notification"
CORE_KEY = "NOTIFY_BY_EMAIL"
OWN_KEY = "NOTIFY_PLUS_EMAIL"

INHERIT, ON, OFF = "inherit", "on", "off"
CHOICES = (INHERIT, ON, OFF)
# Notify Plus 1.0 stored a boolean that defaulted to on: a stored "True" may be that default,
# not a choice the user made, so it counts as 'inherit' (never email someone who said no).
_LEGACY = {"true": INHERIT, "1": INHERIT, "false": OFF, "0": OFF}


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
