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
from ..notice_categories import LOW_STOCK, RECOVERED
from ..routing.config import RoutingConfig
from . import consent
from .explain_reasons import Facts, reasons, status_text

DAYS = 30
MAX_NOTICES = 200
# The query parameter -> (app label, model name): InvenTree's models an answer can be about.
KINDS: dict[str, tuple[str, str]] = {
    "part": ("part", "part"),
    "part_category": ("part", "partcategory"),
    "location": ("stock", "stocklocation"),
    "build": ("build", "build"),
}
WEB_PATHS = {
    "part": "/part/{pk}/",
    "part_category": "/part/category/{pk}/",
    "location": "/stock/location/{pk}/",
    "build": "/manufacturing/build-order/{pk}/",
}


def load_object(kind: str, pk: int) -> Any:
    """The InvenTree object of this kind, or None if there is no such object."""
    from django.apps import apps

    app, model = KINDS[kind]
    return apps.get_model(app, model).objects.filter(pk=pk).first()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _name(obj: Any) -> str:
    return str(
        getattr(obj, "full_name", "")
        or getattr(obj, "pathstring", "")
        or getattr(obj, "reference", "")
        or obj
    )


def _ancestor_ids(obj: Any) -> list[int]:
    """The ids of obj and everything above it, walking parent links (InvenTree's tree index may lag)."""
    ids: list[int] = []
    while obj is not None and obj.pk not in ids:
        ids.append(obj.pk)
        obj = getattr(obj, "parent", None)
    return ids


# -- the user and the object ---------------------------------------------------------------------


def subscription(user: Any, kind: str, obj: Any) -> list[dict[str, Any]]:
    """Through which stars (or locations, or a build's people) the user hears about obj."""
    from part.models import PartCategoryStar, PartStar

    from .subscribers import location_subscribers, part_subscribers, stock_location_ids

    via: list[dict[str, Any]] = []
    part = obj if kind == "part" else getattr(obj, "part", None) if kind == "build" else None
    if kind == "build":
        if obj.issued_by_id == user.pk:
            via.append({"star": "issued this build order", "name": _name(obj)})
        responsible = getattr(obj, "responsible", None)
        if responsible is not None and any(
            o.owner == user for o in responsible.get_related_owners(include_group=False)
        ):
            via.append({"star": "responsible for this build order", "name": _name(obj)})
    categories: list[int] = []
    if part is not None:
        if user in part_subscribers(part):
            for star in PartStar.objects.filter(
                user=user, part__in=part.get_ancestors(include_self=True)
            ).select_related("part"):
                what = "this part" if star.part_id == part.pk else "a template above it"
                if kind == "build":
                    what = "the part it builds" if star.part_id == part.pk else "its template"
                via.append(
                    {"star": what, "model": "part", "pk": star.part_id, "name": _name(star.part)}
                )
            categories = _ancestor_ids(part.category) if part.category_id else []
        if kind == "part":
            locations = stock_location_ids(part)
            if user in location_subscribers(locations):
                via += _location_via(user, locations, "a location holding its stock")
    elif kind == "part_category":
        categories = _ancestor_ids(obj)
    elif kind == "location":
        via += _location_via(user, _ancestor_ids(obj), None, obj.pk)
    for star in PartCategoryStar.objects.filter(
        user=user, category_id__in=categories
    ).select_related("category"):
        own = kind == "part_category" and star.category_id == obj.pk
        what = "this category" if own else "its category or a parent category"
        via.append(
            {
                "star": what,
                "model": "partcategory",
                "pk": star.category_id,
                "name": _name(star.category),
            }
        )
    return via


def _location_via(
    user: Any, location_ids: list[int], reason: str | None, own: int | None = None
) -> list[dict[str, Any]]:
    """Locations among these the user subscribed to (Notify Plus) or owns (InvenTree)."""
    from stock.models import StockLocation

    from ..models import LocationSubscription

    subscribed = set(
        LocationSubscription.objects.filter(user=user, location_id__in=location_ids).values_list(
            "location_id", flat=True
        )
    )
    via = []
    for location in StockLocation.objects.filter(pk__in=location_ids).select_related("owner"):
        how = "subscribed" if location.pk in subscribed else ""
        if not how and location.owner_id:
            owners = location.owner.get_related_owners(include_group=False)
            how = "owner" if any(o.owner == user for o in owners) else ""
        if how:
            what = reason or ("this location" if location.pk == own else "a parent location")
            via.append(
                {
                    "star": what,
                    "how": how,
                    "model": "stocklocation",
                    "pk": location.pk,
                    "name": _name(location),
                }
            )
    return via


def email_consent(plugin: Any, user: Any) -> dict[str, Any]:
    """Does the user want email, and whose choice decides it."""
    stored = consent.stored_choices([user])
    own = stored.get((user.pk, consent.OWN_KEY))
    core = stored.get((user.pk, consent.CORE_KEY))
    choice = consent.own_choice(own)
    if choice != consent.INHERIT:
        by = f"the user's own Notify Plus setting 'Email me' ({choice})"
    elif core is not None:
        by = "the user's InvenTree setting 'Allow email notifications', which Notify Plus follows"
    else:
        by = "InvenTree's default (email on), which Notify Plus follows"
    return {"email": consent.wants(own, core), "by": by, "choice": choice}


def switches_off(plugin: Any, settings: dict[str, Any], categories: set[str]) -> list[str]:
    """The admin's switches that stop these notices (or their email)."""
    off = []
    if not settings["NOTIFICATIONS_ENABLE"]:
        off.append("'Send notifications' is off (nothing is sent)")
    if categories & {LOW_STOCK, RECOVERED} and not settings["NOTIFICATIONS_LOW_STOCK"]:
        off.append("'Low stock notices' is off")
    others = {c for c in categories if not plugin.handles(c, settings)} - {LOW_STOCK, RECOVERED}
    if others and settings["NOTIFICATIONS_ENABLE"]:
        off.append(f"Notify Plus does not deliver {', '.join(sorted(others))} (see its settings)")
    if not settings["EMAIL_ENABLE"]:
        off.append("'Email' is off in Notify Plus (no email is sent by Notify Plus)")
    return off


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
    """Notices about obj (its object_ref or its scope) created since, newest first."""
    from ..models import NoticeRecord

    app, model = KINDS[kind]
    query = Q(object_ref=f"{app}.{model}:{obj.pk}")
    records = NoticeRecord.objects.filter(created_at__gte=since).order_by("-created_at")
    if kind == "part":
        query |= Q(data__scope__part=obj.pk)
    elif kind in ("part_category", "location"):
        key = "part_category_path" if kind == "part_category" else "location_path"
        found = []
        for record in records.only("pk", "uid", "data", "object_ref", "created_at")[:5000]:
            scope = (record.data or {}).get("scope") or {}
            if record.object_ref == f"{app}.{model}:{obj.pk}" or obj.pk in (scope.get(key) or ()):
                found.append(record)
                if len(found) >= MAX_NOTICES:
                    break
        return found
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
        "created": _iso(d.created_at),
        "due": _iso(d.due_at),
        "sent": _iso(d.sent_at),
        "silence": d.silence_id,
        "decisions": _decisions(d, person, digest_size),
    }
    row["text"] = status_text(row)
    return row


# -- InvenTree's own records ---------------------------------------------------------------------


def bell(user: Any, kind: str, obj: Any, since: datetime) -> list[dict[str, Any]]:
    """The user's messages in InvenTree's bell (inbox) about obj."""
    from common.models import NotificationMessage
    from django.contrib.contenttypes.models import ContentType

    rows = NotificationMessage.objects.filter(
        user=user,
        target_content_type=ContentType.objects.get_for_model(obj),
        target_object_id=str(obj.pk),
        creation__gte=since,
    ).order_by("-creation")[:MAX_NOTICES]
    return [
        {"at": _iso(m.creation), "category": m.category, "name": m.name, "read": m.read}
        for m in rows
    ]


def inventree_dedupe(kind: str, obj: Any, now: datetime) -> dict[str, Any] | None:
    """InvenTree's NotificationEntry for obj: its last notification and the 24 h it holds."""
    from common.models import NotificationEntry

    if kind not in ("part", "build"):
        return None
    entry = (
        NotificationEntry.objects.filter(uid=obj.pk, key__startswith=f"{KINDS[kind][0]}.")
        .order_by("-updated")
        .first()
    )
    if entry is None or entry.updated is None:
        return None
    until = entry.updated + timedelta(days=1)
    return {
        "key": entry.key,
        "at": _iso(entry.updated),
        "until": _iso(until),
        "holding": until > now,
    }


def announced_episode(kind: str, obj: Any, user_dest: str) -> dict[str, Any] | None:
    """The low-stock episode going on for a part, and the first delivery that announced it."""
    from ..models import Condition, Delivery

    if kind != "part":
        return None
    condition = Condition.objects.filter(key=f"low_stock:part:{obj.pk}").first()
    if condition is None or condition.detail.get("ended"):
        return None
    rows = Delivery.objects.filter(
        episode__startswith=f"low_stock:part:{obj.pk}@", kind="notice", status="sent"
    ).order_by("sent_at")
    first = rows.first()
    if first is None or rows.filter(destination=user_dest).exists():
        return None
    return {
        "pk": first.pk,
        "at": _iso(first.sent_at),
        "destination": first.destination,
        "since": _iso(condition.since),
    }


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
                "at": _iso(record.created_at),
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
                "at": _iso(record.created_at),
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
            "name": _name(obj),
            "link": WEB_PATHS[kind].format(pk=obj.pk),
        },
        "since": _iso(since),
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
