"""Why nothing reached a user: the ordered table of reasons, and how each delivery status reads.

Pure rules (no InvenTree import), so they are tested on every run. ``explain`` gathers the
:class:`Facts` about one user and one object; :func:`reasons` walks :data:`REASONS` in order and
the first that holds is the answer. Another reason (a new status, a new check) is one more row in
the table; a delivery status nobody described here still reads sensibly (:func:`status_text`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Facts:
    """What is known about one user and one object, for the reasons below.

    ``switch_off``: the name of the admin's switch that stops these notices ('' if none).
    ``announced``: the delivery (``{"pk", "at", "destination"}``) that announced the episode
    still going on, when that was not to this user. ``dedupe_until``: InvenTree's own 24 h
    dedupe holds this object's notification until then (ISO time, '' if not).
    ``held``: the user's deliveries that did not go, as ``{"pk", "status", ...}`` rows.
    """

    subscribed: bool = False
    can_view: bool = False
    wants_email: bool = True
    email_choice_by: str = ""
    switch_off: str = ""
    announced: dict[str, Any] | None = None
    dedupe_until: str = ""
    dedupe_key: str = ""
    plugin_active: bool = True
    outbox_ready: bool = True
    notices: int = 0
    held: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Reason:
    """One row of the table: a stable code, when it holds, and what to tell the user."""

    code: str
    holds: Callable[[Facts], bool]
    text: Callable[[Facts], str]
    link: Callable[[Facts], dict[str, Any] | None] = lambda f: None


def _held(status: str) -> Callable[[Facts], bool]:
    return lambda f: any(d.get("status") == status for d in f.held)


def _held_row(status: str, f: Facts) -> dict[str, Any]:
    return next(d for d in f.held if d.get("status") == status)


# In order: the first that holds is THE reason. Add a row where it belongs in the order.
REASONS: list[Reason] = [
    Reason(
        "not_subscribed",
        lambda f: not f.subscribed,
        lambda f: (
            "Not subscribed: no star on this part, its template or its category (or a "
            "parent category), no subscription to or ownership of a stock location holding it."
        ),
    ),
    Reason(
        "no_view_permission",
        lambda f: not f.can_view,
        lambda f: (
            "No view permission on this object: InvenTree notifies only users who may view it."
        ),
    ),
    Reason(
        "said_no_to_email",
        lambda f: not f.wants_email,
        lambda f: f"Said no to email ({f.email_choice_by}).",
    ),
    Reason(
        "switch_off",
        lambda f: bool(f.switch_off),
        lambda f: f"A switch is off: {f.switch_off}.",
    ),
    Reason(
        "episode_announced",
        lambda f: f.announced is not None,
        lambda f: (
            f"Already announced at {(f.announced or {}).get('at', '?')} to "
            f"{(f.announced or {}).get('destination', '?')}; not repeated while the condition lasts."
        ),
        lambda f: {"delivery": (f.announced or {}).get("pk")},
    ),
    Reason(
        "inventree_dedupe",
        lambda f: bool(f.dedupe_until),
        lambda f: (
            f"InvenTree's own 24 h dedupe: '{f.dedupe_key}' was notified for this object "
            f"recently, so InvenTree skips it until {f.dedupe_until}."
        ),
    ),
    Reason(
        "plugin_inactive",
        lambda f: not f.plugin_active,
        lambda f: "Notify Plus is not active.",
    ),
    Reason(
        "outbox_missing",
        lambda f: not f.outbox_ready,
        lambda f: (
            "Notify Plus's tables are missing (app integration off or migrations not "
            "applied): email stays with InvenTree."
        ),
    ),
    Reason(
        "silenced",
        _held("silenced"),
        lambda f: f"Held by silence #{_held_row('silenced', f).get('silence') or '?'}.",
        lambda f: {"silence": _held_row("silenced", f).get("silence")},
    ),
    Reason(
        "snoozed",
        _held("snoozed"),
        lambda f: "Snoozed by the user.",
    ),
    Reason(
        "pending",
        lambda f: any(d.get("status") in ("pending", "sending") for d in f.held),
        lambda f: "Queued, not sent yet (digest, quiet hours, grouping or a retry).",
    ),
    Reason(
        "failed",
        lambda f: any(d.get("status") in ("failed", "unknown") for d in f.held),
        lambda f: "The email was not delivered: see the service's answer on the delivery.",
    ),
    Reason(
        "no_notice",
        lambda f: f.notices == 0,
        lambda f: "No notification about this object in the period.",
    ),
]


def reasons(facts: Facts) -> list[dict[str, Any]]:
    """Every reason that holds, in the table's order (the first is the answer)."""
    found = []
    for reason in REASONS:
        if reason.holds(facts):
            row: dict[str, Any] = {"code": reason.code, "text": reason.text(facts)}
            link = reason.link(facts)
            if link:
                row["link"] = link
            found.append(row)
    return found


# How a delivery's status reads; an unknown status reads as its name.
STATUS_TEXT: dict[str, str] = {
    "pending": "queued, due {due}",
    "sending": "being sent",
    "sent": "sent at {sent}",
    "failed": "failed after {attempts} attempt(s)",
    "skipped": "skipped",
    "unknown": "outcome unknown (the service may or may not have it)",
    "silenced": "held by silence #{silence}",
    "snoozed": "snoozed",
}


def status_text(row: dict[str, Any]) -> str:
    """A delivery's status in words; a status added later reads as 'status <name>'."""
    template = STATUS_TEXT.get(row.get("status", ""))
    if template is None:
        return f"status '{row.get('status', '?')}'"
    values = {k: ("?" if v in (None, "") else v) for k, v in row.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return str(row.get("status"))
