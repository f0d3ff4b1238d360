"""Follow-ups of sent messages: a notice's resolution edits them, a reminder replies under them.

(Interface agreed for the parallel work on issues 17 and 19; implemented by the notice-life work.)

A follow-up is an outbox row of its own (``Delivery.Kind.UPDATE`` or ``REPLY``): one per
destination that was sent a message of the episode and whose channel can edit (update) or thread
(reply). It points at the original row (``reply_to``) and copies the service's message id
(``external_id``), so the dispatcher knows what to edit. It is never grouped into a digest, is
claimed, retried, paced and logged like any delivery, and its key (notice, destination, kind)
makes a second call queue nothing.

An original still on its way when the episode ends (pending: waiting for its grouping window,
quiet hours or a retry; or being sent) gets its follow-up too: the follow-up waits until the
original is sent and then edits it. So the message people would have had still arrives (nothing
lost) and reads 'resolved' moments later (nothing left misleading). If the original is never
sent (failed, skipped, silenced), the follow-up is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from ..channels import CHANNELS
from ..models import Delivery, NoticeRecord
from ..notice import Notice, stable_uid
from .clock import database_now
from .store import _notice_record  # the notice's one stored copy, as enqueue keeps it

Kind = Delivery.Kind
Status = Delivery.Status

# What a channel class must declare to take a follow-up of each kind.
ABILITY = {Kind.UPDATE: "edits", Kind.REPLY: "threads"}
# Originals a follow-up may refer to: sent, or still on their way (the follow-up waits).
ON_ITS_WAY = (Status.PENDING, Status.SENDING)
# A follow-up whose original is being sent looks again after this long.
RECHECK = timedelta(seconds=5)


def follow_up_key(notice_uid: str, destination: str, kind: str) -> str:
    """The identity of one follow-up: the same notice, destination and kind is one row."""
    return stable_uid(notice_uid, destination, kind)


def follow_up(notice: Notice, kind: str, now: datetime | None = None) -> int:
    """Queue ``kind`` ('update' or 'reply') follow-ups of ``notice.episode``'s sent messages.

    One row per destination whose channel can edit (update) or thread (reply) and that was sent
    a message of the episode; returns how many rows are new. Same transaction rules as
    ``store.enqueue``: call it inside the transaction that decided (and wake a drain on commit
    when it returns more than 0).
    """
    kind = Kind(kind)
    if kind == Kind.NOTICE:
        raise ValueError("a follow-up is an 'update' or a 'reply'")
    if not notice.episode:
        return 0
    capable = [name for name, cls in CHANNELS.items() if getattr(cls, ABILITY[kind], False)]
    originals = _originals(notice, capable)
    if not originals:
        return 0
    now = now or database_now()
    with transaction.atomic(savepoint=False):
        record = _notice_record(notice, now)
        rows = {
            follow_up_key(notice.uid, o.destination, kind): _row(notice, record, kind, o, now)
            for o in originals
        }
        known = set(Delivery.objects.filter(key__in=list(rows)).values_list("key", flat=True))
        fresh = [row for key, row in rows.items() if key not in known]
        Delivery.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def _originals(notice: Notice, channels: Sequence[str]) -> list[Delivery]:
    """Per destination, the message of the episode a follow-up refers to (the latest one).

    Messages that announced the episode (not an earlier resolution or reminder, not this notice)
    and were sent with the service's id, or are still on their way to it.
    """
    rows = (
        Delivery.objects.filter(kind=Kind.NOTICE, episode=notice.episode, channel__in=channels)
        .exclude(notice_uid=notice.uid)
        .select_related("notice_record")
        .order_by("-id")
    )
    chosen: dict[str, Delivery] = {}
    for row in rows:
        if row.destination in chosen or row.notice.get("state", "firing") != "firing":
            continue
        if (row.status == Status.SENT and row.external_id) or row.status in ON_ITS_WAY:
            chosen[row.destination] = row
    return list(chosen.values())


def _row(
    notice: Notice, record: NoticeRecord, kind: str, original: Delivery, now: datetime
) -> Delivery:
    return Delivery(
        key=follow_up_key(notice.uid, original.destination, kind),
        kind=kind,
        notice_uid=notice.uid,
        notice_record=record,
        category=notice.category[:100],
        title=notice.title[:250],
        episode=notice.episode[:150],
        channel=original.channel,
        destination=original.destination,
        destination_label=original.destination_label,
        # A reply pings whom the original pinged; an edit pings nobody.
        mentions=list(original.mentions or []) if kind == Kind.REPLY else [],
        groupable=False,
        due_at=now,
        first_due_at=now,
        created_at=now,
        reply_to=original,
        external_id=original.external_id,
    )


def carried(original: Delivery, external_id: str) -> list[Delivery]:
    """The rows the original message carried: one notice, or each notice of a digest, in order.

    Rows sent together share the claim's ``message_id`` and the service's id; both must match,
    so a service that reuses ids (a restarted stand-in, another webhook) mixes in nothing.
    """
    rows = Delivery.objects.filter(
        destination=original.destination,
        kind=Kind.NOTICE,
        external_id=external_id,
        status=Status.SENT,
    )
    if original.message_id:
        rows = rows.filter(message_id=original.message_id)
    return list(rows.select_related("notice_record").order_by("id"))


def resolutions(notices: Sequence[Notice]) -> tuple[dict[str, Notice], dict[str, datetime]]:
    """For each firing notice whose episode has a sent or queued resolution: that resolution.

    Returns (firing uid -> resolution notice, firing uid -> when the resolution was recorded).
    """
    episodes = {n.episode for n in notices if n.episode}
    if not episodes:
        return {}, {}
    uids = Delivery.objects.filter(
        episode__in=episodes, status__in=[Status.PENDING, Status.SENDING, Status.SENT]
    ).values("notice_uid")
    found: dict[str, NoticeRecord] = {}
    for record in NoticeRecord.objects.filter(uid__in=uids).order_by("created_at", "id"):
        episode = record.data.get("episode", "")
        if record.data.get("state") == "resolved" and episode not in found:
            found[episode] = record
    resolved: dict[str, Notice] = {}
    at: dict[str, datetime] = {}
    for notice in notices:
        record = found.get(notice.episode)
        if record is not None and notice.state == "firing":
            resolved[notice.uid] = Notice.from_dict(record.data)
            at[notice.uid] = record.created_at
    return resolved, at


def ready(rows: Sequence[Delivery]) -> list[Delivery]:
    """The follow-ups among ``rows`` whose original is no longer on its way (in order)."""
    follow_ups = [r for r in rows if r.kind != Kind.NOTICE]
    waiting = set(
        Delivery.objects.filter(
            pk__in=[r.reply_to_id for r in follow_ups if r.reply_to_id], status__in=ON_ITS_WAY
        ).values_list("pk", flat=True)
    )
    return [r for r in follow_ups if r.reply_to_id not in waiting]


def wait_for_original(row: Delivery, token: str, original: Delivery, now: datetime) -> bool:
    """Put a follow-up back until its original is sent; False if the claim was lost meanwhile.

    No attempt is used. Due when the original is (plus a moment), or shortly if it is being sent.
    """
    if original.status == Status.PENDING:
        until = max(original.due_at, now) + timedelta(seconds=1)
    else:
        until = now + RECHECK
    return bool(
        Delivery.objects.filter(pk=row.pk, claim_token=token, status=Status.SENDING).update(
            status=Status.PENDING,
            claim_token="",
            message_id="",
            attempts=F("attempts") - 1,
            due_at=until,
            last_error="waiting for the original message to be sent",
            updated_at=now,
        )
    )
