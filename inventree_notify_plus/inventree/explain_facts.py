"""What 'Why?' knows about one user and one object: the InvenTree edge of ``explain``.

The object by kind, the user's subscription (which star, reusing ``subscribers``), email
consent (whose choice, reusing ``consent``), the admin's switches, InvenTree's own bell
messages and 24 h dedupe for the object, and the low-stock episode already announced.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..notice_categories import LOW_STOCK, RECOVERED
from . import consent

MAX_ROWS = 200
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


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 (None stays None)."""
    return value.isoformat() if value else None


def display_name(obj: Any) -> str:
    """How InvenTree names the object: full name, path or reference."""
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
            via.append({"star": "issued this build order", "name": display_name(obj)})
        responsible = getattr(obj, "responsible", None)
        if responsible is not None and any(
            o.owner == user for o in responsible.get_related_owners(include_group=False)
        ):
            via.append({"star": "responsible for this build order", "name": display_name(obj)})
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
                    {
                        "star": what,
                        "model": "part",
                        "pk": star.part_id,
                        "name": display_name(star.part),
                    }
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
                "name": display_name(star.category),
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
                    "name": display_name(location),
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
    ).order_by("-creation")[:MAX_ROWS]
    return [
        {"at": iso(m.creation), "category": m.category, "name": m.name, "read": m.read}
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
        "at": iso(entry.updated),
        "until": iso(until),
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
        "at": iso(first.sent_at),
        "destination": first.destination,
        "since": iso(condition.since),
    }
