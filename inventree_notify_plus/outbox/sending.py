"""Sending one message and recording its outcome on its rows (the dispatcher's last step).

A message is a destination and the claimed rows it carries (one notice, or a digest). Before it
is sent, rows whose object was deleted are skipped; a destination that no longer resolves skips
them all. The channel's answer is written to the rows still under the claim: sent, failed for
good (with the service's reason), or back to pending for a retry (``retry.reschedule``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from ..channels.base import Channel, Destination, Outcome, SendResult, SentMessage, Skip
from ..models import Delivery, NoticeRecord
from ..notice import Notice
from . import claims, updates
from .pacing import Window, close_windows
from .report import DispatchReport
from .retry import RetryPolicy, reschedule

if TYPE_CHECKING:
    from .destinations import Directory

logger = logging.getLogger("inventree")

Status = Delivery.Status


@dataclass
class Message:
    """One message to send: a destination and the claimed rows it carries."""

    destination: str
    rows: list[Delivery]


class MessageSending:
    """The part of the ``Dispatcher`` that sends a claimed message and records what happened.

    Its attributes are set by ``Dispatcher.__init__``.
    """

    directory: Directory
    policy: RetryPolicy
    clock: Callable[[], datetime]
    on_claim: Callable[[datetime], None] | None
    _claims_covered: bool
    _exists_cache: dict[str, bool]
    _notices: dict[int, Notice]

    def _cover_claims(self, now: datetime) -> None:
        """After the claim commits: have a drain come when it runs out (once per dispatcher).

        Outside the claim's transaction, so that a failure here (logged) cannot undo the claim;
        the minutely sweep remains the fallback.
        """
        if self.on_claim is None or self._claims_covered:
            return
        self._claims_covered = True
        try:
            self.on_claim(now + self.policy.lease)
        except Exception:
            logger.exception("Notify Plus: could not schedule a drain for the claims' lease")

    def _attach_notices(self, rows: list[Delivery]) -> None:
        """Load each notice once for all its rows (one query), not a copy per row.

        A batch of 50 recipients' digests carries the same notices 50 times over; one shared
        record per notice keeps memory to the notices, not the rows.
        """
        ids = {r.notice_record_id for r in rows if r.notice_record_id}
        records = NoticeRecord.objects.in_bulk(ids) if ids else {}
        for row in rows:
            if row.notice_record_id in records:
                row.notice_record = records[row.notice_record_id]

    def _notice(self, row: Delivery) -> Notice:
        """The row's notice, parsed once per pass."""
        key = row.notice_record_id or -row.pk
        if key not in self._notices:
            self._notices[key] = Notice.from_dict(row.notice)
        return self._notices[key]

    def _deliver(
        self,
        channel: Channel,
        message: Message,
        resolved: Destination | Skip,
        token: str,
        report: DispatchReport,
        window: Window | None = None,
    ) -> None:
        """Send one message and record its outcome.

        A message that delivered nothing (it failed, or every row was skipped) closes the
        grouping window its claim opened.
        """
        live: list[Delivery] = []
        gone: list[Delivery] = []
        refs = {r: r.notice_record.object_ref if r.notice_record_id else "" for r in message.rows}
        self._check_exist({ref for ref in refs.values() if ref})
        for row, ref in refs.items():
            (gone if ref and not self._exists_cache.get(ref, True) else live).append(row)
        if gone:
            self._settle(gone, token, Status.SKIPPED, "the object was deleted before sending")
            report.skipped += len(gone)
        if not live:
            close_windows(window, [message.destination])
            return
        if isinstance(resolved, Skip):
            self._settle(live, token, Status.SKIPPED, resolved.reason)
            report.skipped += len(live)
            close_windows(window, [message.destination])
            return
        if any(r.kind != Delivery.Kind.NOTICE for r in live):
            # An edit or a reply puts no new message in the channel: no grouping window.
            close_windows(window, [message.destination])
            for row in live:
                self._follow_up(channel, message.destination, row, resolved, token, report)
            return
        notices = [self._notice(r) for r in live]
        mentions = sorted({m for r in live for m in (r.mentions or [])})
        try:
            result = channel.send(resolved, notices, mentions)
        except Exception as exc:  # a bug must not strand the rows in 'sending'
            logger.exception("Notify Plus: %s channel raised while sending", channel.kind)
            result = SendResult.retry(f"internal error: {type(exc).__name__}")
        report.messages += 1
        report.results.append(result)
        self._record(message.destination, channel, live, token, result, report)
        if result.outcome != Outcome.SENT:
            close_windows(window, [message.destination])

    def _follow_up(
        self,
        channel: Channel,
        key: str,
        row: Delivery,
        destination: Destination,
        token: str,
        report: DispatchReport,
    ) -> None:
        """Edit (update) or reply under the message ``row`` follows up, and record the answer.

        The original must have been sent: until then the row waits (``updates``); if it never
        will be, the row is skipped with the original's status. The channel is given what the
        original carried and, for each of those, its resolution if one is sent or queued.
        """
        original = Delivery.objects.filter(pk=row.reply_to_id).first() if row.reply_to_id else None
        if original is not None and original.status in updates.ON_ITS_WAY:
            updates.wait_for_original(row, token, original, self.clock())
            return
        external_id = row.external_id or (original.external_id if original else "")
        if original is None or original.status != Status.SENT or not external_id:
            why = f"({original.status})" if original is not None else "(deleted)"
            self._settle([row], token, Status.SKIPPED, f"the original message was not sent {why}")
            report.skipped += 1
            return
        rows = updates.carried(original, external_id) or [original]  # notices loaded
        notices = tuple(self._notice(r) for r in rows)
        resolved, resolved_at = updates.resolutions(notices)
        sent = SentMessage(external_id, notices, resolved, resolved_at)
        notice = self._notice(row)
        try:
            if row.kind == Delivery.Kind.UPDATE:
                result = channel.update(destination, sent, [notice])
            else:
                result = channel.reply(destination, sent, [notice], list(row.mentions or []))
        except Exception as exc:  # a bug must not strand the row in 'sending'
            logger.exception("Notify Plus: %s channel raised in a follow-up", channel.kind)
            result = SendResult.retry(f"internal error: {type(exc).__name__}")
        if row.kind == Delivery.Kind.UPDATE and not result.external_id:
            result = replace(result, external_id=external_id)  # the message it edited
        report.messages += 1
        report.results.append(result)
        self._record(key, channel, [row], token, result, report)

    def _check_exist(self, refs: set[str]) -> None:
        """Find out which of ``refs`` still exist, all at once where the directory can.

        A digest of 1000 notices costs one query per model, not one per notice. When the check
        itself fails the notices are sent (a deleted part announced beats a notice lost).
        """
        unknown = refs - self._exists_cache.keys()
        if not unknown:
            return
        try:
            many = getattr(self.directory, "existing", None)
            if many is not None:
                found = set(many(unknown))
                self._exists_cache.update({ref: ref in found for ref in unknown})
                return
            for ref in unknown:
                self._exists_cache[ref] = self.directory.target_exists(ref)
        except Exception:
            logger.exception("Notify Plus: could not check whether the notices' objects exist")

    def _settle(self, rows: Sequence[Delivery], token: str, status: str, reason: str) -> int:
        return claims.settle(rows, token, status, reason, self.clock())

    def _record(
        self,
        key: str,
        channel: Channel,
        rows: list[Delivery],
        token: str,
        result: SendResult,
        report: DispatchReport,
    ) -> None:
        """Write the channel's answer to the rows still under ``token``."""
        now = self.clock()
        label = rows[0].destination_label
        if result.outcome == Outcome.SENT:
            claims.mine(rows, token).update(
                status=Status.SENT,
                external_id=result.external_id[:200],
                sent_at=now,
                last_error="",
                claim_token="",
                updated_at=now,
            )
            report.sent += len(rows)
            logger.info(
                "Notify Plus: sent %s notice(s) by %s to %s", len(rows), channel.kind, label
            )
            return
        if result.outcome == Outcome.PERMANENT:
            self._settle(rows, token, Status.FAILED, result.detail)
            report.failed += len(rows)
            logger.warning(
                "Notify Plus: %s delivery to %s failed permanently: %s",
                channel.kind,
                label,
                result.detail,
            )
            return
        failed, retried = reschedule(key, channel.kind, rows, token, result, now, self.policy)
        report.failed += failed
        report.retried += retried
