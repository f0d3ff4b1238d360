"""The Slack app's channels (``SLACK_APP_CHANNELS``): ``name=CHANNEL_ID`` entries.

They are destinations ``slack:<name>`` like the Slack webhooks (routes and defaults name them the
same way), so a name may not be both: the validator refuses a clash on save, and sending keeps
the webhook and reports the app channel as ignored. ``default`` is the app channel that takes
unmatched notices, allowed while the 'Slack webhook URL' (the webhook ``default``) is empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..validation import validate_slack_channel_id
from .config import WebhookDestination


def parse_app_channels(text: str, webhook_names: Iterable[str] = ()) -> list[WebhookDestination]:
    """The validator on save: each entry ``name=C0123ABCD``, names unique and not a webhook's."""
    taken_by_webhooks = set(webhook_names)
    result: list[WebhookDestination] = []
    for entry in _entries(text):
        dest = _parse(entry)
        if dest.name in taken_by_webhooks:
            raise ValidationError(_clash_message(dest.name), code="name_clash")
        if any(d.name == dest.name for d in result):
            raise ValidationError(
                _("The name '{name}' is given twice; each app channel needs its own name.").format(
                    name=dest.name
                ),
                code="duplicate_name",
            )
        result.append(dest)
    return result


def parse_app_channels_lenient(
    text: str, webhook_names: Iterable[str] = ()
) -> tuple[list[WebhookDestination], list[str]]:
    """App channels for sending: a bad, repeated or clashing entry is skipped and reported."""
    taken_by_webhooks = set(webhook_names)
    result: list[WebhookDestination] = []
    problems: list[str] = []
    for entry in _entries(text):
        try:
            dest = _parse(entry)
        except ValidationError as exc:
            problems.append(f"Slack app channel ignored: {'; '.join(exc.messages)}")
            continue
        if dest.name in taken_by_webhooks:
            problems.append(
                f"Slack app channel '{dest.name}' ignored: slack:{dest.name} is a Slack webhook; "
                "rename one of them"
            )
        elif any(d.name == dest.name for d in result):
            problems.append(
                f"Slack app channel '{dest.name}' given twice: the second is ignored; rename it"
            )
        else:
            result.append(dest)
    return result, problems


def app_names_clash(webhook_names: Iterable[str], app_names: Iterable[str]) -> None:
    """Refuse webhook names (being saved) that an app channel already has."""
    clash = sorted(set(webhook_names) & set(app_names))
    if clash:
        raise ValidationError(_clash_message(clash[0]), code="name_clash")


def _clash_message(name: str) -> str:
    return str(
        _(
            "The name '{name}' is both a Slack webhook destination and a Slack app channel; both "
            "would be 'slack:{name}'. Rename one of them ('default' is the 'Slack webhook URL': "
            "an app channel may be called 'default' only while that setting is empty)."
        ).format(name=name)
    )


def _entries(text: str) -> list[str]:
    return (text or "").replace(",", " ").split()


def _parse(entry: str) -> WebhookDestination:
    name, sep, channel_id = entry.partition("=")
    if not sep or not name or not channel_id:
        raise ValidationError(
            _(
                "Write each Slack app channel as name=CHANNEL_ID, e.g. ops=C0123ABCD (got '{entry}')."
            ).format(entry=entry),
            code="invalid_destination",
        )
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError(
            _("Destination names use letters, digits, - and _ (got '{name}').").format(name=name),
            code="invalid_name",
        )
    validate_slack_channel_id(channel_id.strip())
    return WebhookDestination(kind="slack", name=name.lower(), url=channel_id.strip(), app=True)
