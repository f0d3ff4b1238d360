"""Pacing per destination: the token bucket, the Retry-After block and the grouping window.

All three are kept in the database (``DestinationState``, locked while read), so they hold
whichever worker sends. A destination is blocked until a retry (a failure's backoff, the
service's Retry-After); a rate-limited channel takes a token per message; and after a
*delivered* message the destination's groupable rows wait out the grouping interval, to go
together as one digest. The window is opened when the message is claimed, so no other worker
sends to the destination meanwhile, and closed again if nothing was delivered (a failed attempt
opens no window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from ..channels.base import Channel, RateLimit
from ..models import Delivery, DestinationState
from .clock import database_now

Status = Delivery.Status

# A destination whose window was opened by a message still being sent (which may fail and close
# it) is looked at again after this step; a waiting drain also wakes at least this often.
WAIT_STEP = 2.0


@dataclass
class Window:
    """Grouping windows opened by claiming messages: ``last_sent_at`` set to ``opened``.

    Opened with the claim, so that no other worker sends to the destination while the message
    is on its way; closed again (``last_sent_at`` back to what it was ``before``) when nothing
    was delivered: a failed attempt opens no window.
    """

    opened: datetime
    before: dict[str, datetime | None]


def lock_states(destinations: list[str], now: datetime) -> dict[str, DestinationState]:
    """The pacing state of these destinations, created if new, locked until the claim commits.

    Every worker creates and locks them in the same order (by name), so two batches never
    wait for each other in a circle; a worker claiming for a destination another has just
    claimed for waits for that claim and then sees the window it opened.
    """
    DestinationState.objects.bulk_create(
        [DestinationState(destination=d, tokens=0.0, refilled_at=now) for d in destinations],
        ignore_conflicts=True,
    )
    locked = (
        DestinationState.objects.select_for_update()
        .filter(destination__in=destinations)
        .order_by("destination")
    )
    return {state.destination: state for state in locked}


def hold_back(
    rows: list[Delivery],
    states: dict[str, DestinationState],
    now: datetime,
    group_interval: timedelta,
) -> tuple[list[Delivery], bool]:
    """Leave out the rows of destinations that must wait; make them due when they may go.

    A destination waits while it is blocked until a retry (a failure's backoff, a
    Retry-After), and its groupable rows wait out the grouping interval after a delivered
    message. Made due then, they go out together with whatever arrives meanwhile, as one
    digest. While the message that opened a window is still being sent (by another
    worker), they are looked at again after a short step: if it fails, the window closes.
    Returns the rows that may go now, and whether any were held back.
    """
    blocked: dict[str, datetime] = {}
    window: dict[str, datetime] = {}
    for key, state in states.items():
        if state.blocked_until and state.blocked_until > now:
            blocked[key] = state.blocked_until
        if state.last_sent_at and state.last_sent_at + group_interval > now:
            window[key] = state.last_sent_at + group_interval
    grouped = {r.destination for r in rows if r.groupable and r.destination in window}
    if grouped:
        step = now + timedelta(seconds=WAIT_STEP)
        busy = Delivery.objects.filter(destination__in=grouped, status=Status.SENDING)
        for key in set(busy.values_list("destination", flat=True)):
            window[key] = min(window[key], step)
    free: list[Delivery] = []
    later: dict[datetime, list[int]] = {}
    for row in rows:
        waits = [blocked.get(row.destination), window.get(row.destination)]
        until = max((w for w in waits[: 2 if row.groupable else 1] if w), default=None)
        if until is None:
            free.append(row)
        else:
            later.setdefault(until, []).append(row.pk)
    for until, ids in later.items():
        Delivery.objects.filter(pk__in=ids).update(due_at=until)
    return free, bool(later)


def open_windows(
    destinations: list[str], states: dict[str, DestinationState], now: datetime
) -> Window:
    """Open the grouping window of destinations whose messages are being claimed."""
    DestinationState.objects.filter(destination__in=destinations).update(
        last_sent_at=now, refilled_at=now
    )
    return Window(now, {key: states[key].last_sent_at for key in destinations})


def close_windows(window: Window | None, destinations: Sequence[str]) -> None:
    """Nothing was delivered to these destinations: the windows their claims opened close.

    Only where no later claim has opened another since.
    """
    if window is None:
        return
    before: dict[datetime | None, list[str]] = {}
    for key in destinations:
        before.setdefault(window.before.get(key), []).append(key)
    for value, keys in before.items():
        DestinationState.objects.filter(destination__in=keys, last_sent_at=window.opened).update(
            last_sent_at=value
        )


def pace(
    destination: str,
    channel: Channel,
    now: datetime,
    grouping: bool,
    group_interval: timedelta,
) -> tuple[float, Window | None]:
    """Block until a retry, grouping window, rate limit: the seconds to wait, or 0.

    When it may send it takes a token and opens the grouping window (closed again if
    nothing is delivered). Call it in the claim's transaction: the state stays locked.
    """
    limit = channel.limit_for(destination)
    state = DestinationState.objects.select_for_update().filter(destination=destination).first()
    if state is None:
        DestinationState.objects.get_or_create(
            destination=destination,
            defaults={"tokens": float(limit.burst if limit else 1), "refilled_at": now},
        )
        state = DestinationState.objects.select_for_update().get(destination=destination)
    if state.blocked_until and state.blocked_until > now:
        return (state.blocked_until - now).total_seconds(), None
    if grouping and state.last_sent_at and now < state.last_sent_at + group_interval:
        wait = (state.last_sent_at + group_interval - now).total_seconds()
        if Delivery.objects.filter(destination=destination, status=Status.SENDING).exists():
            wait = min(wait, WAIT_STEP)  # its message may yet fail, closing the window
        return wait, None
    if limit and (wait := _take_token(state, limit, now)) > 0:
        return wait, None
    window = Window(now, {destination: state.last_sent_at})
    state.last_sent_at = now
    state.save(update_fields=["tokens", "refilled_at", "last_sent_at"])
    return 0.0, window


def _take_token(state: DestinationState, limit: RateLimit, now: datetime) -> float:
    """Refill the bucket to ``now`` and take a token: 0.0, or the seconds until there is one.

    Changes ``state`` only when a token is taken; the caller saves it.
    """
    elapsed = max(0.0, (now - state.refilled_at).total_seconds())
    tokens = min(float(limit.burst), state.tokens + elapsed * limit.per_second)
    if tokens < 1.0:
        return (1.0 - tokens) / limit.per_second
    state.tokens = tokens - 1.0
    state.refilled_at = now
    return 0.0


def refilled_at(destination: str, done: datetime) -> None:
    """The bucket refills from when the request was done, not from when the token was taken.

    The time between the two varies (a busy worker), and the service counts arrivals.
    """
    DestinationState.objects.filter(destination=destination, refilled_at__lt=done).update(
        refilled_at=done
    )


def block(destination: str, until: datetime) -> None:
    """Hold a destination until ``until`` (a retry's backoff, the service's Retry-After)."""
    DestinationState.objects.filter(destination=destination).update(blocked_until=until)


def block_channel(kind: str, until: datetime) -> None:
    """Hold every destination of a channel (a service's global rate limit) until ``until``."""
    DestinationState.objects.filter(destination__startswith=f"{kind}:").update(blocked_until=until)


def take_token(destination: str, channel: Channel, now: datetime | None = None) -> float:
    """Take a token for a message sent outside the dispatcher (an admin's test send).

    The same bucket and Retry-After block the dispatcher honours, so a test cannot push a
    destination over the service's limit: 0.0 when it may send now (the token is taken), else
    the seconds to wait. The grouping interval is left alone: a test message is not a notice.
    On the database's clock, like the dispatcher's pacing.
    """
    limit = channel.limit_for(destination)
    now = now or database_now()
    with transaction.atomic():
        state = DestinationState.objects.select_for_update().filter(destination=destination).first()
        if state is None:
            if limit is None:
                return 0.0
            DestinationState.objects.get_or_create(
                destination=destination,
                defaults={"tokens": float(limit.burst), "refilled_at": now},
            )
            state = DestinationState.objects.select_for_update().get(destination=destination)
        if state.blocked_until and state.blocked_until > now:
            return (state.blocked_until - now).total_seconds()
        if limit is None:
            return 0.0
        if (wait := _take_token(state, limit, now)) > 0:
            return wait
        state.save(update_fields=["tokens", "refilled_at"])
    return 0.0
