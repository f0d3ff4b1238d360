"""The plugin's settings as InvenTree shows them: names, descriptions, defaults, validators.

``SETTINGS`` are the admin's (Settings > Plugins > Notify Plus), ``USER_SETTINGS`` each
user's; the plugin class declares them by reference. A validator runs when a value is saved
(InvenTree's settings API, the admin, ``set_setting``) and refuses it with a message saying
what is wrong; how the stored values are read is ``inventree.plugin_settings``'.
"""

from __future__ import annotations

from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from . import validation
from .inventree import consent
from .inventree import setting_checks as checks
from .routing.quiet_hours import validate_timezone

BACK_TO_INVENTREE = _(
    "To go back to InvenTree's own email, deactivate the plugin (Settings > Plugins)."
)

NEEDS = _(
    "Needs InvenTree's global settings (Settings > Plugins): 'Enable app integration' and its "
    "migrations for the outbox and delivery log (until then InvenTree's own email is used and "
    "Slack/Discord are sent best effort), 'Enable schedule integration' for retries, digests "
    "and cleanup, 'Enable event integration' for stock recovery notices and for checking new "
    "build orders when they are created."
)


def _default_delete_days() -> int:
    """Follow InvenTree's own retention for notifications (within this setting's range)."""
    from common.settings import get_global_setting

    try:
        days = int(get_global_setting("INVENTREE_DELETE_NOTIFICATIONS_DAYS", 30))
    except (TypeError, ValueError):
        return 30
    limits = validation.DELETE_DAYS_RANGE
    return min(limits.high, max(limits.low, days))


SETTINGS: dict[str, dict[str, Any]] = {
    "NOTIFICATIONS_ENABLE": {
        "name": _("Send notifications"),
        "description": _(
            "Master switch (InvenTree's 'Enable notifications'). Off: nothing is sent by "
            "email (InvenTree's own included), Slack or Discord; the bell still shows "
            "notices, and email already queued goes out at once. "
        )
        + BACK_TO_INVENTREE
        + " "
        + NEEDS,
        "default": True,
        "validator": bool,
    },
    "NOTIFICATIONS_LOW_STOCK": {
        "name": _("Low stock notices"),
        "description": _(
            "Announce parts whose stock falls below their minimum, once while it stays low "
            "(InvenTree's 'Enable low stock notifications'). Off: no low-stock notice by "
            "email (InvenTree's own included), Slack or Discord; the bell still shows them. "
        )
        + BACK_TO_INVENTREE,
        "default": True,
        "validator": bool,
    },
    "NOTIFICATIONS_RECOVERY": {
        "name": _("Stock recovery notices"),
        "description": _(
            "Also announce when a low part is back at or above its minimum (needs event integration)."
        ),
        "default": False,
        "validator": bool,
    },
    "NOTIFICATIONS_OTHER": {
        "name": _("Other InvenTree notices"),
        "description": _(
            "Deliver every other notification InvenTree sends (build shortfalls, orders, "
            "...). Off: those are left to InvenTree's own methods (its email included)."
        ),
        "default": True,
        "validator": bool,
    },
    "NOTIFICATIONS_DELETE_DAYS": {
        "name": _("Delete old notifications (days)"),
        "description": format_lazy(
            "{} {}.",
            _(
                "Daily, delete Notify Plus's finished deliveries AND InvenTree's own "
                "notifications (every user's bell and inbox entries) older than this; 0 keeps "
                "everything. Defaults to InvenTree's 'Delete notifications' setting. Range:"
            ),
            validation.DELETE_DAYS_RANGE.text,
        ),
        "default": _default_delete_days,
        "units": _("days"),
        "validator": [int, validation.DELETE_DAYS_RANGE],
    },
    "EMAIL_ENABLE": {
        "name": _("Email"),
        "description": _(
            "Send each recipient their own email (nobody sees other addresses), as each user "
            "chose ('Notify Plus: email me', which starts from their 'Allow email "
            "notifications'). For each notification Notify Plus has queued, InvenTree's "
            "built-in email skips those recipients, so it arrives once. Nothing in InvenTree's "
            "settings is changed. Off, or the plugin deactivated: InvenTree's email is back "
            "from the next notification, and email Notify Plus still holds (digests) goes out "
            "at once. While Notify Plus's tables are missing, InvenTree's email is used."
        ),
        "default": True,
        "validator": bool,
    },
    "SLACK_WEBHOOK_URL": {
        "name": _("Slack webhook URL"),
        "description": _(
            "Incoming webhook of the default Slack channel: https://hooks.slack.com/services/... "
            "Deactivate InvenTree's own Slack method (plugin 'InvenTree Slack Notifications') "
            "while Notify Plus posts to Slack, or every notice is posted twice."
        ),
        "default": "",
        "protected": True,
        "validator": checks.validate_slack_webhook,
    },
    "SLACK_EXTRA_WEBHOOKS": {
        "name": _("More Slack channels"),
        "description": _(
            "Named Slack destinations for routes: name=URL, separated by spaces; each name "
            "once, and not 'default' (that is the 'Slack webhook URL')."
        ),
        "default": "",
        "protected": True,
        "validator": checks.validate_extra_slack,
    },
    "DISCORD_WEBHOOK_URL": {
        "name": _("Discord webhook URL"),
        "description": _(
            "Webhook of the default Discord channel: https://discord.com/api/webhooks/<id>/<token>"
        ),
        "default": "",
        "protected": True,
        "validator": validation.validate_discord_webhook_url,
    },
    "DISCORD_EXTRA_WEBHOOKS": {
        "name": _("More Discord channels"),
        "description": _(
            "Named Discord destinations for routes: name=URL, separated by spaces; each name "
            "once, and not 'default' (that is the 'Discord webhook URL')."
        ),
        "default": "",
        "protected": True,
        "validator": checks.validate_extra_discord,
    },
    "ROUTES": {
        "name": _("Routes"),
        "description": _(
            'JSON list; first match wins unless "continue": true; unmatched notices go to the '
            "default channels. Destinations must be configured first (slack:default, "
            "discord:default, slack:<name> from 'More Slack channels', ...); categories are "
            "InvenTree's notification categories (the routes editor lists them). Example: "
            '[{"category": ["part.notify_low_stock"], "part_category": [3], '
            '"to": ["slack:purchasing"]}]'
        ),
        "default": "",
        "validator": checks.validate_routes,
    },
    "GROUP_INTERVAL": {
        "name": _("Grouping interval (seconds)"),
        "description": format_lazy(
            "{} {}.",
            _(
                "The first notice to a Slack/Discord channel, or to a person by email, goes out "
                "at once; notices arriving within this interval after a delivered message are "
                "sent together as one digest (a failed attempt opens no interval). 0: every "
                "notice its own message. Range:"
            ),
            validation.GROUP_INTERVAL_RANGE.text,
        ),
        "default": 60,
        "units": _("seconds"),
        "validator": [int, validation.GROUP_INTERVAL_RANGE],
    },
    "RETRY_MAX_ATTEMPTS": {
        "name": _("Retry attempts"),
        "description": format_lazy(
            "{} {}.",
            _(
                "Give up on a delivery after this many failed attempts (backoff from a few "
                "seconds, doubling, at most 15 min between tries). Range:"
            ),
            validation.RETRY_ATTEMPTS_RANGE.text,
        ),
        "default": 10,
        "validator": [int, validation.RETRY_ATTEMPTS_RANGE],
    },
    "RETRY_MAX_HOURS": {
        "name": _("Retry for (hours)"),
        "description": format_lazy(
            "{} {}.",
            _(
                "Give up on a delivery that could not be sent within this many hours of when it "
                "was first due. Range:"
            ),
            validation.RETRY_HOURS_RANGE.text,
        ),
        "default": 24,
        "units": _("hours"),
        "validator": [int, validation.RETRY_HOURS_RANGE],
    },
    # --- slack-app ---
    "SLACK_BOT_TOKEN": {
        "name": _("Slack bot token (Slack app)"),
        "description": _(
            "Optional Slack app mode: the app's Bot User OAuth Token (xoxb-…, scope "
            "chat:write), from api.slack.com/apps > your app > OAuth & Permissions. With it, "
            "the 'Slack app channels' are posted to with chat.postMessage, and a notice that "
            "resolves (a low part back at its minimum) is updated in place and answered in "
            "its thread. Invite the app to each channel (/invite @app). Empty: no app."
        ),
        "default": "",
        "protected": True,
        "validator": validation.validate_slack_bot_token,
    },
    "SLACK_APP_CHANNELS": {
        "name": _("Slack app channels"),
        "description": _(
            "Slack channels the app posts to: name=CHANNEL_ID (e.g. ops=C0123ABCD), "
            "separated by spaces. Routes name them slack:<name>, like the Slack webhooks, so "
            "a name is either a webhook or an app channel. 'default' takes unmatched notices "
            "(only while the 'Slack webhook URL' is empty). The channel ID is at the bottom "
            "of the channel's About tab. Needs the 'Slack bot token'."
        ),
        "default": "",
        "validator": checks.validate_slack_app_channels,
    },
    # --- reminders ---
    "REMIND_AFTER": {
        "name": _("Remind while still low"),
        "description": _(
            "A part still low this long after it was announced is mentioned again, and again "
            "each time this much longer: a short 'Still low: <part>, since <date>, N days' "
            "notice to the same people and channels (email groups into digests like every "
            "notice; on Discord and Slack app channels it is a reply under the first post). "
            "E.g. 7d, 12h, 30m, 2w, 1d12h. Empty or 0: no reminders. Needs schedule integration."
        ),
        "default": "",
        "validator": checks.validate_remind_after,
    },
    "LOW_STOCK_COUNT_ON_ORDER": {
        "name": _("Count stock on order"),
        "description": _(
            "Do not announce a low part when its available stock plus what open purchase orders "
            "(and, for an assembly, active build orders) will bring reaches its minimum: the "
            "delivery log shows it skipped, 'covered by open orders'. When some is on order but "
            "not enough, the notice says how much. A received order that leaves the part low "
            "announces it then (needs event integration). InvenTree's bell still shows it."
        ),
        "default": False,
        "validator": bool,
    },
    # --- webhooks ---
    "WEBHOOK_URLS": {
        "name": _("Signed webhooks"),
        "description": _(
            "Named receivers of signed outgoing webhooks (an ERP, n8n, Zapier, Home Assistant): "
            "name=URL, separated by spaces; https, or http only to hosts in "
            "INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS. Routes name them webhook:<name>; one named "
            "'default' also receives the notices no route matches. Each notice is POSTed as a "
            "JSON document signed per Standard Webhooks with the 'Webhook secret'."
        ),
        "default": "",
        "protected": True,
        "validator": checks.validate_webhook_urls,
    },
    "WEBHOOK_SECRET": {
        "name": _("Webhook secret"),
        "description": _(
            "The Standard Webhooks signing secret (whsec_ and base64) your receivers verify "
            "with; Notify Plus's console can generate one. Webhooks are not sent without it."
        ),
        "default": "",
        "protected": True,
        "validator": validation.validate_webhook_secret,
    },
    # --- apprise ---
    "APPRISE_URLS": {
        "name": _("Apprise URLs"),
        "description": _(
            "Named destinations for Teams, ntfy, Mattermost, Matrix, Telegram, Gotify, Pushover "
            "and the other services Apprise knows: name=URL, separated by spaces, e.g. "
            "phones=ntfys://ntfy.sh/stores ops=mmosts://chat.example.com/<token>. Routes name "
            "them apprise:<name>. Each URL is checked with Apprise's parser on save."
        ),
        "default": "",
        "protected": True,
        "validator": checks.validate_apprise_urls,
    },
}

USER_SETTINGS: dict[str, dict[str, Any]] = {
    "NOTIFY_PLUS_EMAIL": {
        "name": _("Notify Plus: email me"),
        "description": _(
            "Email about the parts, categories and locations you subscribe to, one message "
            "per notice (or digest) to you alone. 'As InvenTree' follows your 'Allow email "
            "notifications' setting."
        ),
        "default": consent.INHERIT,
        "choices": [
            (consent.INHERIT, _("As InvenTree's 'Allow email notifications'")),
            (consent.ON, _("Yes")),
            (consent.OFF, _("No")),
        ],
    },
    "NOTIFY_PLUS_EMAIL_MODE": {
        "name": _("Notify Plus: email frequency"),
        "description": _(
            "Immediately: the first notice at once, the next ones within the grouping interval "
            "as one digest email. Or one digest email per hour, or per day (07:00)."
        ),
        "default": "immediate",
        "choices": [
            ("immediate", _("Immediately")),
            ("hourly", _("Hourly digest")),
            ("daily", _("Daily digest")),
        ],
    },
    "NOTIFY_PLUS_QUIET_HOURS": {
        "name": _("Notify Plus: quiet hours"),
        "description": _(
            "Hold email during these hours, e.g. 22-07 (empty: none). Slack/Discord posts are not held."
        ),
        "default": "",
        "validator": checks.validate_quiet_hours,
    },
    "NOTIFY_PLUS_TIMEZONE": {
        "name": _("Notify Plus: time zone"),
        "description": _("Your time zone for quiet hours and digests, e.g. Europe/Berlin."),
        "default": "UTC",
        "validator": validate_timezone,
    },
    "NOTIFY_PLUS_SLACK_MEMBER_ID": {
        "name": _("Notify Plus: Slack member ID"),
        "description": _(
            "Set it to be @-mentioned in Slack posts about your subscriptions (off when empty)."
        ),
        "default": "",
        "validator": validation.validate_slack_member_id,
    },
    "NOTIFY_PLUS_DISCORD_USER_ID": {
        "name": _("Notify Plus: Discord user ID"),
        "description": _(
            "Set it to be @-mentioned in Discord posts about your subscriptions (off when empty)."
        ),
        "default": "",
        "validator": validation.validate_discord_user_id,
    },
}
