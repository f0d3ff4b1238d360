"""Who may call the endpoints: InvenTree's rules, with an OAuth2 token's scopes enforced.

Permissions follow InvenTree's token and OAuth2 scopes (``InvenTree.permissions``): an OAuth2
token needs ``g:read`` to read and ``a:staff`` to change (resend, test send), on top of the
user's own rights. API tokens and sessions carry no scopes: the user's rights alone decide.
"""

from __future__ import annotations

from typing import Any

from InvenTree.permissions import OASTokenMixin, map_scope
from oauth2_provider.contrib.rest_framework import TokenMatchesOASRequirements
from rest_framework import permissions
from rest_framework.request import Request
from users.oauth2_scopes import DEFAULT_READ, DEFAULT_STAFF


class _TokenScopes(TokenMatchesOASRequirements):
    """django-oauth-toolkit's scope check with the scopes given here, not read from the view."""

    def __init__(self, scopes: dict) -> None:
        self.scopes = scopes

    def get_required_alternate_scopes(self, request: Request, view: Any) -> dict:
        return self.scopes


class _ScopedPermission(OASTokenMixin, permissions.BasePermission):
    """The user's own rights AND, for an OAuth2 token, the scopes below.

    InvenTree's ``*Scope`` classes accept either the token's scopes or the user's rights, so a
    staff user's read-only token passes wherever staff may write; here both must hold. API
    tokens and sessions carry no scopes: the user's rights alone decide, as in InvenTree.
    """

    def user_allowed(self, request: Request, view: Any) -> bool:
        """The rule for the user behind the request, however they authenticated."""
        raise NotImplementedError

    def has_permission(self, request: Request, view: Any) -> bool:
        """User rule first, then the token's scopes when it is an OAuth2 token."""
        if not (request.user and request.user.is_authenticated):
            return False
        if not self.user_allowed(request, view):
            return False
        if self.is_oauth2ed(request):
            scopes = self.get_required_alternate_scopes(request, view)
            return _TokenScopes(scopes).has_permission(request, view)
        return True


class IsStaffWithScope(_ScopedPermission):
    """Staff users (as InvenTree's ``IsAdminOrAdminScope`` for its admin endpoints).

    With an OAuth2 token: ``g:read`` to read, ``a:staff`` to change anything (resend, test
    send), the mapping of InvenTree's ``IsStaffOrReadOnlyScope``.
    """

    message = (
        "Staff only; with an OAuth2 token also the scope 'a:staff' to change (resend, test "
        "send) or 'g:read' to read."
    )

    def user_allowed(self, request: Request, view: Any) -> bool:
        """Staff users (and superusers, who may do anything in InvenTree)."""
        return bool(request.user.is_staff or request.user.is_superuser)

    def get_required_alternate_scopes(self, request: Request, view: Any) -> dict:
        """GET/HEAD need g:read; POST and the rest need a:staff (InvenTree's map_scope)."""
        scopes = map_scope(
            only_read=True,
            read_name=DEFAULT_STAFF,
            map_read=list(permissions.SAFE_METHODS),
            map_read_name=DEFAULT_READ,
        )
        return {**scopes, "HEAD": scopes["GET"]}


class IsOwnUserWithScope(_ScopedPermission):
    """Any signed-in user, for their own subscriptions only (the views filter by the user).

    With an OAuth2 token: ``g:read``, as InvenTree's own per-user settings endpoints ask.
    """

    def user_allowed(self, request: Request, view: Any) -> bool:
        """Every signed-in user; what they see and change is their own."""
        return True

    def get_required_alternate_scopes(self, request: Request, view: Any) -> dict:
        """g:read for every method (InvenTree's ``UserSettingsPermissionsOrScope``)."""
        scopes = map_scope(only_read=True)
        return {**scopes, "HEAD": scopes["GET"]}
