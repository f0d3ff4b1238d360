"""Staff endpoints for silences: list, create, expire, and a silence suggested by a delivery.

- ``silences/``: GET lists active, pending and expired silences (expired ones for 7 days);
  POST creates one from JSON ``part``, ``part_category``, ``location``, ``category``,
  ``destination``, ``starts``, ``ends`` (or ``duration``: 1h, 4h, 1d, 3d, 1w, 2w), ``comment``
  (author: the caller);
- ``silences/<id>/``: DELETE expires it now and announces, once, what it held and is still true;
- ``silences/suggest/?delivery=<id>``: the fields of a silence matching that delivery's notice
  (the console's "Silence notices like this").

Staff only (``permissions.IsStaffWithScope``, as every admin endpoint); holding and releasing
are the outbox's ``holds`` stage.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from rest_framework.request import Request
from rest_framework.response import Response

from .plugin_view import NotifyPlusView


def _not_ready(plugin) -> Response | None:
    if plugin.outbox_ready():
        return None
    return Response(
        {
            "error": "Silences need Notify Plus's tables: see warnings.",
            "warnings": plugin.integration_warnings(),
        },
        status=409,
    )


class SilenceListView(NotifyPlusView):
    """Silences: list and create."""

    def get(self, request: Request) -> Response:
        """Active, pending and recently expired silences, each with how many rows it held."""
        if (refused := _not_ready(self.plugin)) is not None:
            return refused
        from ..inventree.silences import KEPT_VISIBLE, describe, iso, names_for
        from ..models import Silence
        from ..outbox.clock import database_now

        now = database_now()
        silences = list(
            Silence.objects.filter(ends__gt=now - KEPT_VISIBLE)
            .select_related("author")
            .annotate(held_count=Count("held"))
            .order_by("-starts", "-id")
        )
        names = names_for(silences)
        rows = [describe(s, now, names) for s in silences]
        return Response(
            {
                "now": iso(now),
                "active": [r for r in rows if r["state"] == "active"],
                "pending": [r for r in rows if r["state"] == "pending"],
                "expired": [r for r in rows if r["state"] == "expired"],
            }
        )

    def post(self, request: Request) -> Response:
        """Create a silence; 400 says which field is wrong and why."""
        if (refused := _not_ready(self.plugin)) is not None:
            return refused
        from ..inventree.silences import SilenceInvalidError, describe, names_for, validate
        from ..inventree.wakeup import request_drain
        from ..models import Silence
        from ..outbox.clock import database_now

        if not isinstance(request.data, dict):
            return Response({"error": "send a JSON object"}, status=400)
        now = database_now()
        try:
            fields = validate(request.data, self.plugin, now)
        except SilenceInvalidError as exc:
            # Per field as InvenTree's forms show errors, and in one line for other callers.
            fields = {
                ("non_field_errors" if k == "criteria" else k): [v] for k, v in exc.errors.items()
            }
            return Response({**fields, "error": str(exc), "errors": exc.errors}, status=400)
        silence = Silence.objects.create(**fields, author=request.user, created_at=now)
        request_drain()  # rows already due are held by the next pass, not sent
        return Response(describe(silence, now, names_for([silence])), status=201)


class SilenceDetailView(NotifyPlusView):
    """One silence: DELETE expires it now."""

    def delete(self, request: Request, pk: int) -> Response:
        """Expire now; what it held and is still true is announced once."""
        if (refused := _not_ready(self.plugin)) is not None:
            return refused
        from ..inventree.silences import describe, names_for, still_true
        from ..inventree.wakeup import request_drain
        from ..models import Silence
        from ..outbox.clock import database_now
        from ..outbox.holds import expire

        now = database_now()
        announced = expire(pk, now, still_true)
        if announced is None:
            return Response({"error": f"no silence {pk}"}, status=404)
        if announced:
            request_drain()
        silence = Silence.objects.select_related("author").get(pk=pk)
        return Response({**describe(silence, now, names_for([silence])), "announced": announced})


class SilenceSuggestView(NotifyPlusView):
    """The fields of a silence like a delivery's notice (the console pre-fills its form)."""

    def get(self, request: Request) -> Response:
        """``?delivery=<id>``: its part (or category path's last), category and destination."""
        if (refused := _not_ready(self.plugin)) is not None:
            return refused
        from ..inventree.silences import iso
        from ..models import Delivery
        from ..outbox.clock import database_now

        try:
            row = Delivery.objects.select_related("notice_record").get(
                pk=int(request.query_params.get("delivery", ""))
            )
        except (TypeError, ValueError, Delivery.DoesNotExist):
            return Response({"error": "give ?delivery=<id of a delivery>"}, status=400)
        scope = row.notice.get("scope") or {}
        part = scope.get("part")
        path = scope.get("part_category_path") or []
        now = database_now()
        return Response(
            {
                "part": part,
                "part_category": None if part or not path else path[-1],
                "location": None,
                "category": row.category,
                # A channel's key; one person's mailbox is rarely what is meant.
                "destination": "" if row.channel == "email" else row.destination,
                "starts": iso(now),
                "ends": iso(now + timedelta(hours=4)),
                "comment": f"like delivery {row.pk}: {row.title}"[:200],
            }
        )
