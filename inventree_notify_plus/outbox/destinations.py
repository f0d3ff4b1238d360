"""Stored destination keys resolved to live addresses at send time.

Keys, not addresses, are stored: a webhook URL is a secret that may be rotated, and a user may
change their address or be deactivated between the notice and the send. The dispatcher asks a
``Directory``; ``SettingsDirectory`` is the one InvenTree's worker uses: webhooks from the plugin
settings, people from Django's user model (the address through InvenTree's lookup, handed in).

A queued email resolves whether or not *Email* is still on: it was taken from InvenTree's own
email, so it is owed to its recipient (see ``inventree.plugin_state``); switching Email off
sends it at once instead of skipping it.
"""

from __future__ import annotations

from typing import Protocol

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from ..channels.base import Destination, Skip
from ..redaction import mask_email
from ..routing.config import SIGNED_WEBHOOK, RoutingConfig, WebhookDestination


class Directory(Protocol):
    """Resolves stored destination keys to live addresses at send time.

    Webhook URLs are secrets and user addresses change, so the outbox stores only keys.
    A directory may also offer ``resolve_many(keys) -> dict`` and ``existing(refs) -> set``
    to look many up at once (email batches, digests).
    """

    def resolve(self, key: str) -> Destination | Skip:
        """The destination for ``key`` now, or why it cannot be delivered."""

    def target_exists(self, object_ref: str) -> bool:
        """Whether the object the notice is about still exists."""


class SettingsDirectory:
    """Webhooks from the plugin settings, people from InvenTree's users."""

    def __init__(self, config: RoutingConfig, email_for_user=None) -> None:
        self.config = config
        self.email_for_user = email_for_user or (lambda user: user.email)

    def resolve(self, key: str) -> Destination | Skip:
        """The live destination for a stored key."""
        kind, _, rest = key.partition(":")
        if kind in ("slack", "discord", "apprise"):
            dest = self.config.destination(key)
            if dest is None or not dest.url:
                return Skip(f"the {kind} destination '{rest}' is no longer configured")
            if dest.app:
                return self._slack_app(key, dest)
            return Destination(kind, key, dest.url, dest.label)
        if kind == SIGNED_WEBHOOK:
            dest = self.config.destination(key)
            if dest is None or not dest.url:
                return Skip(f"the webhook destination '{rest}' is no longer configured")
            if not self.config.webhook_secret:
                return Skip(
                    "the 'Webhook secret' setting is empty: a webhook is never sent unsigned"
                )
            return Destination(kind, key, dest.url, dest.label, secret=self.config.webhook_secret)
        if kind == "email":
            try:
                user = get_user_model().objects.get(pk=int(rest.rsplit(":", 1)[-1]))
            except (ValueError, get_user_model().DoesNotExist):
                return Skip("the user no longer exists")
            return self._person(key, user)
        return Skip(f"unknown destination '{key}'")

    def _slack_app(self, key: str, dest: WebhookDestination) -> Destination | Skip:
        """A Slack app channel: its id is the address, the bot token the (never shown) credential."""
        token = self.config.slack_bot_token
        if not token:
            return Skip(
                f"the Slack app channel '{dest.name}' needs the 'Slack bot token' setting, "
                "which is empty"
            )
        return Destination(dest.channel, key, dest.url, dest.label, credential=token)

    def _person(self, key: str, user) -> Destination | Skip:
        """A user's mailbox, or why they cannot be mailed."""
        if not user.is_active:
            return Skip("the user is inactive")
        address = self.email_for_user(user)
        if not address:
            return Skip("the user has no email address")
        name = user.get_full_name() or user.get_username()
        return Destination(
            "email", key, address, f"{name} <{mask_email(address)}>", recipient_name=name
        )

    def resolve_many(self, keys: list[str]) -> dict[str, Destination | Skip]:
        """Resolve many keys at once: one query for all the users among them (email batches)."""
        ids = {}
        for key in keys:
            kind, _, rest = key.partition(":")
            if kind == "email" and rest.rsplit(":", 1)[-1].isdigit():
                ids[key] = int(rest.rsplit(":", 1)[-1])
        users = get_user_model().objects.in_bulk(set(ids.values()))
        found: dict[str, Destination | Skip] = {}
        for key in keys:
            if key not in ids:
                found[key] = self.resolve(key)
            elif ids[key] not in users:
                found[key] = Skip("the user no longer exists")
            else:
                found[key] = self._person(key, users[ids[key]])
        return found

    def target_exists(self, object_ref: str) -> bool:
        """Whether ``app_label.model:pk`` still exists."""
        return object_ref in self.existing({object_ref})

    def existing(self, object_refs: set[str]) -> set[str]:
        """Which of the ``app_label.model:pk`` references still exist: one query per model.

        References to models InvenTree no longer has, or with a malformed key, count as
        existing: the notice is sent rather than dropped.
        """
        by_model: dict[str, list[str]] = {}
        for ref in object_refs:
            by_model.setdefault(ref.partition(":")[0], []).append(ref)
        found: set[str] = set()
        for label, refs in by_model.items():
            app_label, _, model_name = label.partition(".")
            try:
                model = apps.get_model(app_label, model_name)
                wanted = {model._meta.pk.to_python(ref.partition(":")[2]): ref for ref in refs}
            except (LookupError, ValueError, ValidationError):
                found.update(refs)
                continue
            there = model.objects.filter(pk__in=list(wanted)).values_list("pk", flat=True)
            found.update(wanted[pk] for pk in there)
        return found
