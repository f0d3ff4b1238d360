"""The channel-neutral notice: what happened, to which object, with which facts and link.

Everything a channel renders comes from a Notice, so channels never touch InvenTree models and
a notice can be stored in the outbox as JSON and rendered later, in another process.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How urgent a notice is; channels map it to colour and emoji."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Fact:
    """One labelled value shown as a field (e.g. 'Available' -> '3 pcs')."""

    label: str
    value: str


@dataclass(frozen=True)
class Line:
    """One item of a list inside a notice, e.g. a short line of a build order."""

    title: str
    link: str = ""
    facts: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class Notice:
    """A notification, independent of how it will be delivered.

    ``uid`` is the stable identity of the event: the same InvenTree notification triggered twice
    yields the same uid, which the outbox uses so nothing is enqueued twice.
    ``scope`` carries what routing matches on (part category path, stock locations).
    ``lines`` form a table (see ``channels.base.line_table``): the first column is each line's
    title, headed ``line_heading`` (e.g. 'Part'), then one column per fact label.
    ``episode`` names the condition the notice belongs to (``low_stock:part:12@<since>``), so a
    later resolution or reminder finds the messages that announced it; ``state`` says which of
    those this notice is: ``firing`` (it started), ``resolved`` (it ended), ``reminder``.
    """

    uid: str
    category: str
    title: str
    summary: str
    link: str = ""
    severity: Severity = Severity.INFO
    facts: tuple[Fact, ...] = ()
    lines: tuple[Line, ...] = ()
    object_ref: str = ""
    scope: dict[str, Any] = field(default_factory=dict)
    line_heading: str = ""
    episode: str = ""
    state: str = "firing"

    def to_dict(self) -> dict[str, Any]:
        """Serialise for storage in the outbox."""
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        """Rebuild a notice stored by :meth:`to_dict` (by this version or an older one)."""
        return cls(
            uid=data["uid"],
            category=data["category"],
            title=data["title"],
            summary=data.get("summary", ""),
            link=data.get("link", ""),
            severity=Severity(data.get("severity", "info")),
            facts=tuple(Fact(**f) for f in data.get("facts", ())),
            lines=tuple(
                Line(
                    title=ln["title"],
                    link=ln.get("link", ""),
                    facts=tuple(Fact(**f) for f in ln.get("facts", ())),
                )
                for ln in data.get("lines", ())
            ),
            object_ref=data.get("object_ref", ""),
            scope=dict(data.get("scope", {})),
            line_heading=data.get("line_heading", ""),
            episode=data.get("episode", ""),
            state=data.get("state", "firing"),
        )


def stable_uid(*parts: object) -> str:
    """A short, stable identity built from the parts that define an event."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
