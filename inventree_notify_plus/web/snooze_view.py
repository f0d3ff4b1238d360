"""The snooze page a message's link opens, and each user's own snoozes ('My notifications').

- ``snooze/<signed>/``: GET shows what will be snoozed, for how long, and a Confirm button; POST
  creates the ``Snooze``. A signed-in user is required (otherwise a page that links to
  InvenTree's sign-in, answered 401). A forged link answers 400, a link bound to another user 403, an expired or already
  used one 410, each as a short page that says so (never a 500).
- ``snoozes/``: GET the requesting user's snoozes still running; ``snoozes/<id>/`` DELETE lifts
  one of their own.

A plain Django view for the page (a form with InvenTree's CSRF protection; InvenTree leaves
authentication under ``/plugin/`` to the view, so the view redirects to the login itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template import Context, Engine
from django.utils import timezone
from django.views import View
from rest_framework.request import Request
from rest_framework.response import Response

from ..snoozing import LinkRefusedError, SnoozeLink, verify
from .permissions import IsOwnUserWithScope
from .plugin_view import NotifyPlusView

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "notify_plus"
_engine = Engine(dirs=[str(TEMPLATE_DIR)], autoescape=True)


def _page(request: HttpRequest, status: int, **context: Any) -> HttpResponse:
    html = _engine.get_template("snooze.html").render(
        Context({"csrf_token": get_token(request), **context})
    )
    return HttpResponse(html, status=status)


def _refused(request: HttpRequest, exc: LinkRefusedError) -> HttpResponse:
    return _page(request, exc.status, refused=exc.reason)


def login_url() -> str:
    """InvenTree's sign-in page (its web UI).

    InvenTree's login returns to its own pages only (no ``?next=`` for a page outside the web
    UI), so the snooze page asks the person to open the link again once signed in.
    """
    return "/web/login"


class SnoozeView(View):
    """Confirm a snooze from a signed link (GET shows, POST confirms)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Signed-in users only: others go to InvenTree's login and back."""
        if not request.user.is_authenticated:
            try:
                verify(kwargs.get("signed", ""))
            except LinkRefusedError as exc:
                return _refused(request, exc)
            return _page(
                request,
                401,
                signin=login_url(),
            )
        return super().dispatch(request, *args, **kwargs)

    def _link(self, request: HttpRequest, signed: str) -> SnoozeLink:
        link = verify(signed)
        if link.user_id is not None and link.user_id != request.user.pk:
            raise LinkRefusedError(
                403,
                "This snooze link was sent to someone else: only its recipient can use it. "
                "Sign in as that user, or use a link from your own email.",
            )
        from ..models import Snooze

        if Snooze.objects.filter(token=link.token_for(request.user.pk)).exists():
            raise LinkRefusedError(410, "This snooze link has already been used.")
        return link

    def get(self, request: HttpRequest, signed: str) -> HttpResponse:
        """What will be snoozed, and a Confirm button."""
        try:
            link = self._link(request, signed)
        except LinkRefusedError as exc:
            return _refused(request, exc)
        return _page(
            request,
            200,
            link=link,
            until=timezone.now() + link.duration,
            user=request.user.get_username(),
        )

    def post(self, request: HttpRequest, signed: str) -> HttpResponse:
        """Create the snooze (once: a replay is refused)."""
        from ..models import Snooze

        try:
            link = self._link(request, signed)
        except LinkRefusedError as exc:
            return _refused(request, exc)
        now = timezone.now()
        try:
            with transaction.atomic():
                snooze = Snooze.objects.create(
                    user=request.user,
                    episode=link.episode[:150],
                    title=link.title[:250],
                    object_ref=link.object_ref[:200],
                    until=now + link.duration,
                    token=link.token_for(request.user.pk),
                    created_at=now,
                )
        except IntegrityError:
            return _refused(
                request, LinkRefusedError(410, "This snooze link has already been used.")
            )
        return _page(request, 200, done=snooze, user=request.user.get_username())


def describe(snooze: Any) -> dict[str, Any]:
    """One snooze as 'My notifications' shows it."""
    from ..inventree.silences import iso

    return {
        "id": snooze.pk,
        "pk": snooze.pk,
        "title": snooze.title or snooze.episode,
        "episode": snooze.episode,
        "object_ref": snooze.object_ref,
        "until": iso(snooze.until),
        "created": iso(snooze.created_at),
    }


class MySnoozesView(NotifyPlusView):
    """The requesting user's snoozes still running."""

    permission_classes = [IsOwnUserWithScope]

    def get(self, request: Request) -> Response:
        """Only the requesting user's own, soonest end first."""
        from ..models import Snooze

        rows = Snooze.objects.filter(
            user=request.user, until__gt=timezone.now(), lifted_at__isnull=True
        ).order_by("until", "id")
        return Response({"snoozes": [describe(s) for s in rows]})


class MySnoozeView(NotifyPlusView):
    """Lift one of my snoozes."""

    permission_classes = [IsOwnUserWithScope]

    def delete(self, request: Request, pk: int) -> Response:
        """Lift it now: the next notices about the episode reach me again."""
        from ..models import Snooze

        lifted = Snooze.objects.filter(
            pk=pk, user=request.user, lifted_at__isnull=True, until__gt=timezone.now()
        ).update(lifted_at=timezone.now())
        if not lifted:
            return Response({"error": f"you have no running snooze {pk}"}, status=404)
        return Response({"lifted": pk})
