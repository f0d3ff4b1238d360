"""Email batches: channels without a rate limit send many recipients' messages per claim.

Up to ``batch_size`` messages (at most ``max_rows_per_batch`` rows) are claimed at once, their
recipients resolved in one query, each notice loaded once for the whole batch, and sent over one
connection. The rows are claimed as *not started*; each message is started in turn just before
it is sent, so a worker dying mid-batch leaves only the message on the wire in doubt.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction

from ..channels.base import Channel, Destination, Skip
from ..models import Delivery
from . import claims
from .pacing import close_windows, hold_back, lock_states, open_windows
from .report import DispatchReport
from .sending import Message, MessageSending

Status = Delivery.Status


class EmailBatches(MessageSending):
    """The part of the ``Dispatcher`` that sends a channel's messages in batches (email)."""

    channels: dict[str, Channel]
    group_interval: timedelta
    batch_size: int
    max_rows_per_batch: int
    max_rows_per_message: int
    timer: Callable[[], float]

    def dispatch_batch(self, kind: str, report: DispatchReport, deadline: float | None) -> bool:
        """Claim up to ``batch_size`` messages of one channel at once and send them.

        One batch per pass, so a large email backlog never keeps the webhook destinations
        waiting (the drain loop comes back for the next batch). Each recipient's message takes
        all their due rows (up to ``max_rows_per_message``), so a burst becomes one digest per
        person, not one per handful of notices. A recipient emailed within the grouping
        interval, or waiting for a retry, is held back (``pacing.hold_back``). One claim, one
        lookup of all recipients, one connection for the batch; a heartbeat renews the lease
        while the batch is sent. Returns whether anything was sent, settled or held back.
        """
        if deadline is not None and self.timer() >= deadline:
            return False
        channel = self.channels[kind]
        now = self.clock()
        due = Delivery.objects.filter(channel=kind, status=Status.PENDING, due_at__lte=now)
        first = due.order_by("due_at", "id").values_list("destination", flat=True)
        destinations = list(dict.fromkeys(first[: self.batch_size * 4]))[: self.batch_size]
        if not destinations:
            return False
        token = uuid.uuid4().hex
        with transaction.atomic():
            rows = list(
                due.select_for_update(skip_locked=True)
                .filter(destination__in=destinations)
                .order_by("destination", "due_at", "id")[: self.max_rows_per_batch]
            )
            if not rows:
                return False
            states = lock_states(sorted({r.destination for r in rows}), now)
            rows, held = hold_back(rows, states, now, self.group_interval)
            self._attach_notices(rows)
            messages = self._messages(channel, rows)
            if not messages:
                return held
            window = open_windows([m.destination for m in messages], states, now)
            claims.claim([r for m in messages for r in m.rows], token, now, started=False)
        self._cover_claims(now)
        resolved = self._resolve_all([m.destination for m in messages])
        ids = [r.pk for m in messages for r in m.rows]
        lease = self.policy.lease
        with claims.keep_lease(token, ids, lease, self.clock) as beating, channel.batch():
            renewed = self.timer()
            for i, message in enumerate(messages):
                if deadline is not None and self.timer() >= deadline:
                    claims.unclaim(token, [r.pk for m in messages[i:] for r in m.rows])
                    close_windows(window, [m.destination for m in messages[i:]])
                    return True
                if not beating and self.timer() - renewed > lease.total_seconds() / 3:
                    claims.renew(token, [r.pk for m in messages[i:] for r in m.rows], self.clock())
                    renewed = self.timer()
                if claims.start(token, [r.pk for r in message.rows], self.clock()):
                    self._deliver(
                        channel, message, resolved[message.destination], token, report, window
                    )
                else:
                    close_windows(window, [message.destination])
        return True

    def _messages(self, channel: Channel, rows: list[Delivery]) -> list[Message]:
        """Group locked rows into at most ``batch_size`` messages, one per destination."""
        by_destination: dict[str, list[Delivery]] = {}
        for row in rows:
            by_destination.setdefault(row.destination, []).append(row)
        messages = []
        for destination, mine in by_destination.items():
            groupable = [r for r in mine if r.groupable][: self.max_rows_per_message]
            chosen = groupable or mine[:1]
            if len(chosen) > 1:
                chosen = chosen[: channel.capacity([self._notice(r) for r in chosen])]
            messages.append(Message(destination, chosen))
            if len(messages) >= self.batch_size:
                break
        return messages

    def _resolve_all(self, keys: list[str]) -> dict[str, Destination | Skip]:
        """Every recipient of the batch at once where the directory can (one query)."""
        many = getattr(self.directory, "resolve_many", None)
        if many is not None:
            found = dict(many(keys))
            return {k: found.get(k, Skip(f"unknown destination '{k}'")) for k in keys}
        return {k: self.directory.resolve(k) for k in keys}
