"""'Why did or didn't I hear about this?': one user, one object, the last 30 days as a timeline.

Answers from what the server decided and recorded, not from a re-run: the notices about the
object (the outbox's ``NoticeRecord``; a part category or stock location also covers notices
about parts within it), InvenTree's own bell messages and 24 h dedupe for it, the user's
subscription (which star), view permission and email consent (whose choice), the admin's
switches, the route a notice takes with today's routes, and each delivery with its status,
attempts and the service's answer. If nothing reached the user, the first reason from
``explain_reasons.REASONS``.

Another user's email deliveries are never listed, and webhook URLs never leave the server
(staff see the masked label, others the destination's name).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from ..notice import Notice
from ..notice_categories import LOW_STOCK
from ..routing.config import RoutingConfig
from .explain_facts import (
    KINDS,
    WEB_PATHS,
    announced_episode,
    bell,
    display_name,
    email_consent,
    inventree_dedupe,
    iso,
    subscription,
    switches_off,
)
from .explain_reasons import Facts, reasons, status_text

DAYS = 30
MAX_NOTICES = 200


def route_taken(notice: Notice, config: RoutingConfig) -> dict[str, Any]:
    """Which route(s) matched the notice and where that sends it (with today's routes)."""
    from ..routing.plan import webhook_targets

    matched = []
    for n, route in enumerate(config.routes, start=1):
        if route.matches(notice):
            matched.append({"route": n, "to": list(route.to), "continue": route.cont})
            if not route.cont:
                break
    return {
        "routes": matched,
        "default": not matched,
        "to": [d.key for d in webhook_targets(notice, config)],
    }


# -- the notices and their deliveries ------------------------------------------------------------


def notices_about(kind: str, obj: Any, since: datetime) -> list[Any]:
    """Notices about obj (its object_ref or its scope) created since, newest first.

    A part category or stock location covers the notices whose scope lists it (the part's
    category path, the locations holding its stock): one JSON query where the database can
    (PostgreSQL, MySQL), else the window's notices read and checked here.
    """
    from django.db import connection

    from ..models import NoticeRecord

    app, model = KINDS[kind]
    query = Q(object_ref=f"{app}.{model}:{obj.pk}")
    records = NoticeRecord.objects.filter(created_at__gte=since).order_by("-created_at")
    if kind == "part":
        query |= Q(data__scope__part=obj.pk)
    elif kind in ("part_category", "location"):
        key = "part_category_path" if kind == "part_category" else "location_path"
        if connection.features.supports_json_field_contains:
            query |= Q(**{f"data__scope__{key}__contains": [obj.pk]})
        else:
            found = []
            for record in records[:5000]:
                scope = (record.data or {}).get("scope") or {}
                if record.object_ref == query.children[0][1] or obj.pk in (scope.get(key) or ()):
                    found.append(record)
            return found[:MAX_NOTICES]
    return list(records.filter(query)[:MAX_NOTICES])


def _decisions(d: Any, person: Any, digest_size: int) -> list[str]:
    """Digest, quiet-hours and grouping decisions visible on one delivery."""
    said = []
    if d.due_at and d.created_at and d.due_at - d.created_at > timedelta(seconds=30):
        if d.channel == "email" and person is not None and person.email_mode != "immediate":
            why = f"the user's {person.email_mode} digest"
        elif d.channel == "email" and person is not None and person.quiet_start is not None:
            why = "the user's quiet hours"
        else:
            why = "the grouping interval or a retry"
        said.append(
            f"due {d.due_at.isoformat()}, {d.due_at - d.created_at} after it was queued: {why}"
        )
    if digest_size > 1:
        said.append(f"sent in one digest with {digest_size - 1} other notice(s)")
    if d.attempts > 1:
        said.append(f"{d.attempts} attempts")
    return said


def _delivery(d: Any, person: Any, digest_size: int, staff: bool) -> dict[str, Any]:
    row = {
        "delivery": d.pk,
        "channel": d.channel,
        "destination": d.destination_label if staff else d.destination,
        "kind": d.kind,
        "status": d.status,
        "attempts": d.attempts,
        "answer": d.last_error,
        "created": iso(d.created_at),
        "due": iso(d.due_at),
        "sent": iso(d.sent_at),
        "silence": d.silence_id,
        "decisions": _decisions(d, person, digest_size),
    }
    row["text"] = status_text(row)
    return row


# -- the answer ----------------------------------------------------------------------------------


def explain(
    plugin: Any, user: Any, kind: str, obj: Any, staff: bool, now: datetime | None = None
) -> dict[str, Any]:
    """The timeline of obj for user over the last 30 days, and the first reason if nothing came."""
    from users.permissions import check_user_permission

    from ..models import Delivery
    from .recipients import recipients_for

    now = now or timezone.now()
    since = now - timedelta(days=DAYS)
    settings = plugin.current_settings()
    config = plugin.routing_config(settings)
    user_dest = f"email:user:{user.pk}"
    person = next(iter(recipients_for(plugin, [user])), None)
    via = subscription(user, kind, obj)
    can_view = bool(check_user_permission(user, obj, "view"))
    email = email_consent(plugin, user)

    records = notices_about(kind, obj, since)
    rows = list(
        Delivery.objects.filter(notice_record__in=records)
        .filter(~Q(channel="email") | Q(destination=user_dest))
        .order_by("created_at", "pk")
    )
    sizes = dict(
        Delivery.objects.filter(message_id__in={d.message_id for d in rows if d.message_id})
        .values_list("message_id")
        .annotate(n=Count("id"))
    )
    by_record: dict[int, list[Any]] = {}
    for d in rows:
        by_record.setdefault(d.notice_record_id, []).append(d)

    timeline: list[dict[str, Any]] = []
    notices = []
    for record in records:
        notice = Notice.from_dict(record.data)
        route = route_taken(notice, config)
        deliveries = [
            _delivery(d, person, sizes.get(d.message_id, 1), staff)
            for d in by_record.get(record.pk, [])
        ]
        notices.append(
            {
                "uid": record.uid,
                "title": notice.title,
                "category": notice.category,
                "state": notice.state,
                "episode": notice.episode,
                "at": iso(record.created_at),
                "object_ref": record.object_ref,
                "route": route,
                "deliveries": deliveries,
            }
        )
        where = (
            ", ".join(f"route {r['route']}" for r in route["routes"])
            or "no route matched: the default destinations"
        )
        timeline.append(
            {
                "at": iso(record.created_at),
                "type": "notice",
                "title": notice.title,
                "text": f"{notice.category} ({notice.state}); {where} -> "
                f"{', '.join(route['to']) or 'no channel'}",
            }
        )
        for row in deliveries:
            to_user = row["channel"] == "email"
            timeline.append(
                {
                    "at": row["sent"] or row["created"],
                    "type": "delivery",
                    "status": row["status"],
                    "title": f"{row['channel']} {row['kind']} to {row['destination']}"
                    + (" (this user)" if to_user else ""),
                    "text": "; ".join(
                        [row["text"], *row["decisions"]]
                        + ([f"answer: {row['answer']}"] if row["answer"] else [])
                    ),
                    "delivery": row["delivery"],
                }
            )
    messages = bell(user, kind, obj, since)
    for m in messages:
        timeline.append(
            {
                "at": m["at"],
                "type": "bell",
                "title": f"InvenTree's bell: {m['name']}",
                "text": f"{m['category']} ({'read' if m['read'] else 'unread'})",
            }
        )
    dedupe = inventree_dedupe(kind, obj, now)
    if dedupe is not None:
        timeline.append(
            {
                "at": dedupe["at"],
                "type": "dedupe",
                "title": f"InvenTree notified '{dedupe['key']}'",
                "text": f"InvenTree skips the same notification until {dedupe['until']}",
            }
        )
    timeline.sort(key=lambda e: e["at"] or "", reverse=True)

    mine = [d for n in notices for d in n["deliveries"] if d["channel"] == "email"]
    sent = any(d["status"] == "sent" for d in mine)
    categories = {n["category"] for n in notices} or (
        {LOW_STOCK} if kind in ("part", "part_category", "location") else set()
    )
    off = switches_off(plugin, settings, categories)
    facts = Facts(
        subscribed=bool(via),
        can_view=can_view,
        wants_email=email["email"],
        email_choice_by=email["by"],
        switch_off="; ".join(off),
        announced=announced_episode(kind, obj, user_dest),
        dedupe_until=dedupe["until"] if dedupe and dedupe["holding"] else "",
        dedupe_key=dedupe["key"] if dedupe else "",
        outbox_ready=plugin.outbox_ready(),
        notices=len(notices),
        held=[d for d in mine if d["status"] != "sent"],
    )
    found = [] if sent else reasons(facts)
    return {
        "user": {"pk": user.pk, "username": user.get_username()},
        "object": {
            "kind": kind,
            "pk": obj.pk,
            "name": display_name(obj),
            "link": WEB_PATHS[kind].format(pk=obj.pk),
        },
        "since": iso(since),
        "subscribed": bool(via),
        "via": via,
        "can_view": can_view,
        "consent": email,
        "switches_off": off,
        "email_mode": person.email_mode if person else None,
        "notices": notices,
        "bell": messages,
        "inventree_dedupe": dedupe,
        "timeline": timeline,
        "sent_to_user": sent,
        "reason": found[0] if found else None,
        "reasons": found,
    }
