"""The endpoints under /plugin/notify-plus/ (what the plugin's ``setup_urls`` returns).

Staff: ``deliveries/``, ``deliveries/<id>/resend/``, ``health/`` (``admin_api``);
``test/<channel>/``, ``preview/``, ``routes/``, ``pick/`` (``admin_setup_api``);
``admin/webhook-secret/`` (``webhook_api``). Each signed-in user, for their own: ``locations/``,
``here/``, ``mine/`` (``user_api``); ``explain/`` (``explain_api``: staff about anyone, a user
about themselves). Permissions: ``permissions``; a Notify Plus that is not active or not loaded answers 503 with the reason
(``plugin_view``).
"""

from __future__ import annotations

from django.urls import path

from .admin_api import DeliveryLogView, HealthView, ResendView
from .admin_setup_api import PickView, PreviewView, RoutesView, TestSendView
from .destinations_api import DestinationAddView, DestinationKindsView, DestinationValidateView
from .explain_api import ExplainView
from .silences_api import SilenceDetailView, SilenceListView, SilenceSuggestView
from .snooze_view import MySnoozesView, MySnoozeView, SnoozeView
from .user_api import HereView, LocationSubscriptionView, MineView
from .webhook_api import WebhookSecretView

# InvenTree answers 401 under /plugin/ before a view runs unless the view says it checks
# sign-in itself: the snooze page does, to send a person from a message to the login.
_snooze_page = SnoozeView.as_view()
_snooze_page.auth_exempt = True  # type: ignore[attr-defined]

urlpatterns = [
    path("locations/", LocationSubscriptionView.as_view(), name="locations"),
    path("deliveries/", DeliveryLogView.as_view(), name="deliveries"),
    path("deliveries/<int:pk>/resend/", ResendView.as_view(), name="resend"),
    path("test/<str:channel>/", TestSendView.as_view(), name="test-send"),
    path("preview/", PreviewView.as_view(), name="preview"),
    path("health/", HealthView.as_view(), name="health"),
    path("routes/", RoutesView.as_view(), name="routes"),
    path("pick/", PickView.as_view(), name="pick"),
    path("here/", HereView.as_view(), name="here"),
    path("mine/", MineView.as_view(), name="mine"),
    path("explain/", ExplainView.as_view(), name="explain"),
    path("admin/webhook-secret/", WebhookSecretView.as_view(), name="webhook-secret"),
    # --- apprise --- the console's Add destination form (destinations_api)
    path("admin/destinations/", DestinationAddView.as_view(), name="destination-add"),
    path("admin/destinations/kinds/", DestinationKindsView.as_view(), name="destination-kinds"),
    path(
        "admin/destinations/validate/",
        DestinationValidateView.as_view(),
        name="destination-validate",
    ),
    # --- silences ---
    path("silences/", SilenceListView.as_view(), name="silences"),
    path("silences/suggest/", SilenceSuggestView.as_view(), name="silence-suggest"),
    path("silences/<int:pk>/", SilenceDetailView.as_view(), name="silence"),
    path("snooze/<str:signed>/", _snooze_page, name="snooze"),
    path("snoozes/", MySnoozesView.as_view(), name="snoozes"),
    path("snoozes/<int:pk>/", MySnoozeView.as_view(), name="my-snooze"),
]
