"""``explain/``: why did or didn't a user hear about an object (issue 17, part 5).

``GET explain/?user=<pk>&part=<pk>`` (or ``part_category``, ``location``, ``build``; exactly
one object; ``user`` defaults to the caller). Staff may ask about anyone, every signed-in user
about themselves (403 otherwise); 400 names what is wrong with the parameters, 404 an unknown
user or object. The view parses and serialises; the answer is ``inventree.explain``'s.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from ..inventree.explain import explain
from ..inventree.explain_facts import KINDS, load_object
from .permissions import IsOwnUserWithScope
from .plugin_view import NotifyPlusView


def _pk(value: Any) -> int | None:
    try:
        pk = int(str(value))
    except (TypeError, ValueError):
        return None
    return pk if pk > 0 else None


class ExplainView(NotifyPlusView):
    """The timeline of one object for one user over the last 30 days."""

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """Parse ``user`` and exactly one object parameter, check who may ask, answer."""
        from django.contrib.auth import get_user_model

        params = request.query_params
        given = [k for k in KINDS if params.get(k) not in (None, "")]
        if len(given) != 1:
            return Response(
                {
                    "error": "give exactly one object: "
                    + ", ".join(f"{k}=<pk>" for k in KINDS)
                    + (f" (got {', '.join(given)})" if given else "")
                },
                status=400,
            )
        kind = given[0]
        pk = _pk(params[kind])
        if pk is None:
            return Response({"error": f"{kind} must be a positive whole number"}, status=400)
        user_pk = request.user.pk
        if params.get("user") not in (None, ""):
            user_pk = _pk(params["user"])
            if user_pk is None:
                return Response({"error": "user must be a positive whole number"}, status=400)
        staff = bool(request.user.is_staff or request.user.is_superuser)
        if user_pk != request.user.pk and not staff:
            return Response(
                {"error": "only staff may ask about another user; ask about yourself"},
                status=403,
            )
        user = get_user_model().objects.filter(pk=user_pk).first()
        if user is None:
            return Response({"error": f"no user {user_pk}"}, status=404)
        obj = load_object(kind, pk)
        if obj is None:
            return Response({"error": f"no {kind.replace('_', ' ')} {pk}"}, status=404)
        return Response(explain(self.plugin, user, kind, obj, staff=staff))
