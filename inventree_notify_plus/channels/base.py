"""What every channel shares: the destination, the send result, the limits it declares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from ..notice import Line, Notice


class Outcome(StrEnum):
    """What the outbox should do next with a delivery."""

    SENT = "sent"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendResult:
    """A channel's answer. ``detail`` is safe to log and show (secrets scrubbed).

    ``external_id``: the service's id of the message it accepted (Discord message id, Slack
    ``ts``, email ``Message-ID``), kept on the rows so an update can edit it later.
    """

    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None
    status: int | None = None
    external_id: str = ""

    @classmethod
    def sent(
        cls, detail: str = "ok", status: int | None = None, external_id: str = ""
    ) -> SendResult:
        """The service accepted the message."""
        return cls(Outcome.SENT, detail, status=status, external_id=external_id)

    @classmethod
    def retry(
        cls, detail: str, retry_after: float | None = None, status: int | None = None
    ) -> SendResult:
        """A transient failure: try again, not before ``retry_after`` seconds if given."""
        return cls(Outcome.RETRY, detail, retry_after=retry_after, status=status)

    @classmethod
    def permanent(cls, detail: str, status: int | None = None) -> SendResult:
        """Retrying will not help (bad webhook, refused address): record and stop."""
        return cls(Outcome.PERMANENT, detail, status=status)


@dataclass(frozen=True)
class Destination:
    """One place a message goes to: a webhook or one person's mailbox.

    ``address`` is the secret part (webhook URL) or the email address; ``label`` is what the
    delivery log shows (masked). ``credential``: what a channel authenticates with besides the
    address (the Slack app's bot token, the address then being the channel id); never shown.
    """

    kind: str
    key: str
    address: str
    label: str
    recipient_name: str = ""
    mentions: tuple[str, ...] = field(default=())
    credential: str = field(default="", repr=False)
    # A signed webhook's signing secret (``whsec_…``): never shown, so never in a repr.
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Skip:
    """A destination that cannot be delivered to any more (user inactive, no address...)."""

    reason: str


@dataclass(frozen=True)
class RenderContext:
    """Site-wide facts a message shows: the instance name (for subjects) and its URL."""

    instance_name: str = "InvenTree"
    site_url: str = ""

    @property
    def notifications_url(self) -> str:
        """InvenTree's notification inbox, where every notice of a long digest is listed."""
        return f"{self.site_url.rstrip('/')}/web/notifications/" if self.site_url else ""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per destination: ``burst`` messages at once, refilled at ``per_second``."""

    burst: int
    per_second: float


class Channel(ABC):
    """Render and send one message to one destination."""

    kind: str = ""
    rate_limit: RateLimit | None = None
    max_items: int = 50

    def __init__(self, context: RenderContext | None = None, timeout: float = 10.0) -> None:
        self.context = context or RenderContext()
        self.timeout = timeout

    @abstractmethod
    def render(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> Any:
        """Build the message for ``notices`` (one notice, or a digest of several)."""

    def limit_for(self, destination: str) -> RateLimit | None:
        """The token bucket of one destination (by key): the channel's, or its service's own."""
        return self.rate_limit

    def capacity(self, notices: Sequence[Notice]) -> int:
        """How many of ``notices`` one digest message lists in full.

        The outbox sends the rest in the next message, so no notice is reduced to '... and N more'.
        """
        return max(1, min(len(notices), self.max_items))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Around several sends in a row: a channel may share one connection for them."""
        yield

    @abstractmethod
    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """Render and send; never raises for a delivery problem, answers a SendResult."""

    # A notice's life: a channel that can change a message it sent (Discord's webhook edit, Slack
    # app's chat.update) or thread under it says so; the outbox then queues follow-ups
    # (``Delivery.Kind.UPDATE``/``REPLY``) for it instead of new messages.
    edits: bool = False
    threads: bool = False

    def update(
        self, destination: Destination, original: SentMessage, notices: Sequence[Notice]
    ) -> SendResult:
        """Change ``original`` in place to show ``notices`` (resolutions) against what it said."""
        return SendResult.permanent(f"{self.kind} cannot change a message it sent")

    def reply(
        self,
        destination: Destination,
        original: SentMessage,
        notices: Sequence[Notice],
        mentions: Sequence[str] = (),
    ) -> SendResult:
        """Post ``notices`` (a resolution, a reminder) as a reply under ``original``."""
        return SendResult.permanent(f"{self.kind} cannot reply under a message it sent")


@dataclass(frozen=True)
class SentMessage:
    """A message the service accepted earlier, as a follow-up needs it.

    ``external_id``: the service's id of it (Discord message id, Slack ``ts``, email
    ``Message-ID``). ``notices``: what it carried (one notice, or each notice of a digest), in
    order. ``resolved``: for each of those that has since ended, by the firing notice's uid, the
    notice that resolved it (so an edit of a digest marks each resolved line). ``resolved_at``:
    when each of those resolutions was recorded, by the same uid (for a 'Resolved <time>' line).
    """

    external_id: str
    notices: tuple[Notice, ...]
    resolved: dict[str, Notice] = field(default_factory=dict)
    resolved_at: dict[str, datetime] = field(default_factory=dict)


def digest_headline(notices: Sequence[Notice]) -> str:
    """'3 notifications: Low stock (2), Build order shortfall (1)'."""
    counts: dict[str, int] = {}
    for notice in notices:
        label = category_label(notice.category)
        counts[label] = counts.get(label, 0) + 1
    parts = ", ".join(f"{label} ({n})" for label, n in counts.items())
    return f"{len(notices)} notifications: {parts}"


_CATEGORY_LABELS = {
    "part.notify_low_stock": "Low stock",
    "notify_plus.low_stock_recovered": "Stock recovered",
    "build.stock_required": "Build order shortfall",
    "build.overdue_build_order": "Build order overdue",
    "build.completed": "Build order completed",
    "stock.notify_stale_stock": "Stale stock",
    "purchase_order.items_received": "Items received",
    "return_order.items_received": "Items received",
    "order.overdue_purchase_order": "Purchase order overdue",
    # InvenTree raises overdue return orders under the sales order category too.
    "order.overdue_sales_order": "Sales or return order overdue",
    "part.notification": "Part changed",
}


def category_label(category: str) -> str:
    """A short human label for an InvenTree notification category."""
    if category in _CATEGORY_LABELS:
        return _CATEGORY_LABELS[category]
    tail = category.rsplit(".", 1)[-1]
    return tail.replace("_", " ").strip().capitalize() or "Notification"


@dataclass(frozen=True)
class TableRow:
    """One line of a notice as table cells: its title (linked if it has a link), then values."""

    title: str
    link: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class LineTable:
    """A notice's lines as a table: column headings and one row per line."""

    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]


def line_table(notice: Notice) -> LineTable | None:
    """The lines of ``notice`` as a table, or None without lines.

    The first column holds the line titles (headed ``notice.line_heading``, else 'Item'); then a
    column per fact label, in the order labels first appear. A line without a fact shows '-'.
    """
    if not notice.lines:
        return None
    labels: list[str] = []
    for line in notice.lines:
        labels += [f.label for f in line.facts if f.label not in labels]
    columns = (notice.line_heading or "Item", *(_heading(label) for label in labels))
    return LineTable(columns=columns, rows=tuple(_row(line, labels) for line in notice.lines))


def _heading(label: str) -> str:
    return label[:1].upper() + label[1:]


def _row(line: Line, labels: list[str]) -> TableRow:
    values = {f.label: f.value for f in line.facts}
    return TableRow(line.title, line.link, tuple(values.get(label, "-") for label in labels))


def compact_facts(line: Line) -> str:
    """'required 50, available 12': a line's facts in one run, those without a value left out.

    Slack and Discord show a table row this way; a stale item without batch or serial number
    then reads 'Location A, Quantity 5, Expiry Date ...' instead of 'Batch -, Serial Number -'.
    """
    return ", ".join(f"{f.label} {f.value}" for f in line.facts if f.value not in ("", "-"))


def compact_line(line: Line) -> str:
    """'Resistor 10k: required 50, available 12'."""
    facts = compact_facts(line)
    return f"{line.title}: {facts}" if facts else line.title


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
