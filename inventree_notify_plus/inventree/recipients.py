"""Users as recipients: each with their own choices, read in one query for any number of users."""

from __future__ import annotations

from typing import Any

from ..routing.config import Recipient
from ..routing.quiet_hours import parse_quiet_hours_safe
from .consent import CORE_KEY, OWN_KEY, stored_choices, wants


def recipients_for(plugin: Any, users: list) -> list[Recipient]:
    """Active users with their email consent, digest mode, quiet hours and mention ids."""
    from InvenTree.helpers_email import get_email_for_user

    users = [u for u in users if u is not None and u.is_active]
    if not users:
        return []
    stored = stored_choices(users)

    def pref(user: Any, key: str) -> str:
        value = stored.get((user.pk, key))
        return value if value is not None else str(plugin.USER_SETTINGS[key]["default"])

    result = []
    for user in users:
        quiet = parse_quiet_hours_safe(pref(user, "NOTIFY_PLUS_QUIET_HOURS"))
        result.append(
            Recipient(
                user_id=user.pk,
                name=user.get_full_name() or user.get_username(),
                email=get_email_for_user(user) or "",
                wants_email=wants(stored.get((user.pk, OWN_KEY)), stored.get((user.pk, CORE_KEY))),
                email_mode=pref(user, "NOTIFY_PLUS_EMAIL_MODE") or "immediate",
                slack_member_id=pref(user, "NOTIFY_PLUS_SLACK_MEMBER_ID").strip(),
                discord_user_id=pref(user, "NOTIFY_PLUS_DISCORD_USER_ID").strip(),
                timezone=pref(user, "NOTIFY_PLUS_TIMEZONE") or "UTC",
                quiet_start=quiet[0] if quiet else None,
                quiet_end=quiet[1] if quiet else None,
                username=user.get_username(),
            )
        )
    return result
