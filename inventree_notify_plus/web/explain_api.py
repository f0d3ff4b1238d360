"""``explain/``: why did or didn't a user hear about an object (issue 17, part 5).

``GET explain/?user=<pk>&part=<pk>`` (or ``part_category``, ``location``, ``build``; exactly
one object; ``user`` defaults to the caller). Staff may ask about anyone, every signed-in user
about themselves (403 otherwise) and about what they may view; 400 names what is wrong with the
parameters, 404 an unknown user or object (or one a plain user may not view). The view parses
and serialises; the answer is ``inventree.explain``'s.
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


class _RefusedError(Exception):
    """A request the endpoint answers with an error: status, the field at fault, the message."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


class ExplainView(NotifyPlusView):
    """The timeline of one object for one user over the last 30 days.

    GET takes query parameters (the API); POST takes the same as a body, for InvenTree's form
    modal in the admin console (errors per field, the way its forms show them).
    """

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """``?user=<pk>&part=<pk>`` (or part_category, location, build)."""
        try:
            return Response(self._answer(request, request.query_params))
        except _RefusedError as refused:
            return Response({"error": refused.message}, status=refused.status)

    def post(self, request: Request) -> Response:
        """The same question as a body ``{"user": pk, "part": pk}``."""
        try:
            return Response(self._answer(request, request.data))
        except _RefusedError as refused:
            return Response(
                {refused.field: [refused.message], "error": refused.message},
                status=refused.status,
            )

    def _answer(self, request: Request, params: Any) -> dict[str, Any]:
        """Parse ``user`` and exactly one object, check who may ask, and explain."""
        from django.contrib.auth import get_user_model
        from users.permissions import check_user_permission

        given = [k for k in KINDS if params.get(k) not in (None, "")]
        if len(given) != 1:
            raise _RefusedError(
                400,
                "non_field_errors",
                "give exactly one object: "
                + ", ".join(f"{k}=<pk>" for k in KINDS)
                + (f" (got {', '.join(given)})" if given else ""),
            )
        kind = given[0]
        pk = _pk(params[kind])
        if pk is None:
            raise _RefusedError(400, kind, f"{kind} must be a positive whole number")
        user_pk = request.user.pk
        if params.get("user") not in (None, ""):
            user_pk = _pk(params["user"])
            if user_pk is None:
                raise _RefusedError(400, "user", "user must be a positive whole number")
        staff = bool(request.user.is_staff or request.user.is_superuser)
        if user_pk != request.user.pk and not staff:
            raise _RefusedError(
                403, "user", "only staff may ask about another user; ask about yourself"
            )
        user = get_user_model().objects.filter(pk=user_pk).first()
        if user is None:
            raise _RefusedError(404, "user", f"no user {user_pk}")
        obj = load_object(kind, pk)
        if obj is None:
            raise _RefusedError(404, kind, f"no {kind.replace('_', ' ')} {pk}")
        if not staff and not check_user_permission(request.user, obj, "view"):
            # what a user may not view stays unseen, its notices' titles included
            raise _RefusedError(404, kind, f"no {kind.replace('_', ' ')} {pk} you may view")
        return explain(self.plugin, user, kind, obj, staff=staff)
