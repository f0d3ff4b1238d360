"""Notify Plus in InvenTree's web UI: which panels and dashboard items to offer, and where.

The plugin class delegates its ``UserInterfaceMixin`` hooks here: a 'Notifications' panel on
part, part category and stock location pages, 'My notifications' in the user's settings and
on the dashboard, and the admin console. What they show comes from the endpoints
(``user_api``, ``admin_api``), built from the frontend/ bundle.
"""

from __future__ import annotations

from typing import Any

# The bundle built from frontend/ (vite) into static/; InvenTree copies it to static/plugins/<slug>/.
ADMIN_SOURCE = "Admin.js:renderPluginSettings"
PANEL_SOURCE = "Panel.js:renderPanel"
DASHBOARD_SOURCE = "Dashboard.js:renderDashboardItem"

# Pages that get a Notify Plus panel: InvenTree's model name -> (app label, model) for permissions.
PANEL_MODELS = {
    "part": ("part", "part"),
    "partcategory": ("part", "partcategory"),
    "stocklocation": ("stock", "stocklocation"),
}


def _my_notifications(plugin: Any) -> dict[str, Any]:
    """'My notifications': the same entry as a settings panel and as a dashboard item."""
    return {
        "key": "notify-plus-mine",
        "title": "My notifications",
        "description": "Notify Plus: what you subscribe to and how you are told",
        "icon": "ti:bell:outline",
        "source": plugin.plugin_static_file(DASHBOARD_SOURCE),
    }


def panels(plugin: Any, request: Any, context: dict) -> list[dict[str, Any]]:
    """'Notifications' on Part, Part category and Stock location pages; 'My notifications' in settings."""
    from users.permissions import check_user_permission

    context = context or {}
    model = context.get("target_model")
    if model == "usersettings" and getattr(request.user, "is_authenticated", False):
        return [_my_notifications(plugin)]
    if model not in PANEL_MODELS or context.get("target_id") in (None, ""):
        return []
    instance = page_object(model, context["target_id"])
    if instance is None or not check_user_permission(request.user, instance, "view"):
        return []
    return [
        {
            "key": "notify-plus",
            "title": "Notifications",
            "description": "Notify Plus: your subscriptions here and where notices go",
            "icon": "ti:bell:outline",
            "source": plugin.plugin_static_file(PANEL_SOURCE),
            "context": {"model": model, "id": instance.pk},
        }
    ]


def dashboard_items(plugin: Any, request: Any, context: dict) -> list[dict[str, Any]]:
    """'My notifications' for every signed-in user."""
    if not getattr(request.user, "is_authenticated", False):
        return []
    return [{**_my_notifications(plugin), "options": {"width": 6, "height": 5}}]


def admin_context(plugin: Any) -> dict[str, Any]:
    """Small start-up data for the admin console; the rest comes from the admin endpoints."""
    return {"api": f"/plugin/{plugin.slug}/", "version": plugin.VERSION}


def page_object(model: str, pk: Any) -> Any:
    """The part, part category or stock location a page shows, or None if there is none."""
    from part.models import Part, PartCategory
    from stock.models import StockLocation

    cls = {"part": Part, "partcategory": PartCategory, "stocklocation": StockLocation}[model]
    try:
        return cls.objects.get(pk=int(pk))
    except (TypeError, ValueError, cls.DoesNotExist):
        return None
