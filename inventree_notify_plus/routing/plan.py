"""Routing's decision: which destinations receive a notice, and when.

Webhook destinations (Slack/Discord channels) are chosen by the routes the admin writes,
matched on the notification category, the part category (and its subcategories) and the stock
location; the first matching route wins unless it says ``continue``; a notice no route matches
goes to the default destinations. People receive email according to their own preferences, and
are @-mentioned in the channels only where they opted in with their member id.

Email timing: *immediately* means due now; *hourly* and *daily* mean due at the next digest
time; quiet hours move either to their end. Every delivery is groupable: the outbox sends a
destination's first notice at once and folds the ones arriving within the grouping interval
after it into one digest, for a person's mailbox as for a Slack or Discord channel, so a burst
of 30 notices is two or three emails, not 30.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..notice import Notice
from ..redaction import mask_email
from .config import SIGNED_WEBHOOK, Recipient, RoutingConfig, WebhookDestination
from .quiet_hours import quiet_hours_end, zone

DAILY_DIGEST_HOUR = 7


@dataclass(frozen=True)
class PlannedDelivery:
    """Routing's decision: this notice goes to this destination (not before ``due_at``).

    ``groupable``: it may wait out the grouping interval and go in one digest with others to the
    same destination (routing plans every delivery so; ``False`` sends it alone, at once).
    """

    channel: str
    destination: str
    label: str
    mentions: tuple[str, ...] = ()
    due_at: datetime | None = None
    groupable: bool = True


def webhook_targets(notice: Notice, config: RoutingConfig) -> list[WebhookDestination]:
    """The Slack/Discord destinations for a notice, in route order, without repeats."""
    chosen: list[str] = []
    matched = False
    for route in config.routes:
        if route.matches(notice):
            matched = True
            chosen.extend(route.to)
            if not route.cont:
                break
    if not matched:
        chosen = list(
            config.default_to
            if config.default_to is not None
            else [d.key for d in config.destinations if d.name == "default"]
        )
    result: list[WebhookDestination] = []
    for key in dict.fromkeys(chosen):
        dest = config.destination(key)
        if dest is not None and dest.url:
            result.append(dest)
    return result


def plan(
    notice: Notice, recipients: Iterable[Recipient], config: RoutingConfig, now: datetime
) -> list[PlannedDelivery]:
    """Decide every delivery of a notice: one per webhook destination, one email per person."""
    if not config.categories_enabled.get(notice.category, True):
        return []
    people = list(recipients)
    planned: list[PlannedDelivery] = []
    for dest in webhook_targets(notice, config):
        # A signed webhook lists the recipients' usernames in its document (each notice its
        # own POST, its webhook-id the delivery's, never held back for a digest); Apprise
        # services get no mentions.
        attr = {
            "slack": "slack_member_id",
            "discord": "discord_user_id",
            SIGNED_WEBHOOK: "username",
        }.get(dest.kind)
        mentions = (
            tuple(sorted({getattr(p, attr) for p in people if getattr(p, attr)})) if attr else ()
        )
        planned.append(
            PlannedDelivery(
                channel=dest.channel,
                destination=dest.key,
                label=dest.label,
                mentions=mentions,
                due_at=now,
                groupable=dest.kind != SIGNED_WEBHOOK,
            )
        )
    if config.email_enabled:
        for person in people:
            if not person.wants_email:
                continue
            due = email_due_at(person, now)
            planned.append(
                PlannedDelivery(
                    channel="email",
                    destination=f"email:user:{person.user_id}",
                    label=f"{person.name or person.user_id} <{mask_email(person.email)}>"
                    if person.email
                    else f"{person.name or person.user_id} (no address)",
                    due_at=due,
                )
            )
    return planned


def email_due_at(person: Recipient, now: datetime) -> datetime:
    """When this person's email should go: now, the next digest time, or after quiet hours.

    Due now is not sent now when the person was emailed within the grouping interval: the
    outbox then holds it until the interval ends and sends one digest (see ``outbox.pacing``).
    """
    tz = zone(person.timezone)
    local = now.astimezone(tz)
    if person.email_mode == "hourly":
        local = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    elif person.email_mode == "daily":
        slot = local.replace(hour=DAILY_DIGEST_HOUR, minute=0, second=0, microsecond=0)
        local = slot if slot > local else slot + timedelta(days=1)
    return quiet_hours_end(person, local).astimezone(now.tzinfo)
