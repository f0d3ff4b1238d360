"""Staff endpoint for signed webhooks: generate the signing secret.

``admin/webhook-secret/``: GET says whether a secret is set (never the secret); POST makes a
fresh ``whsec_…`` secret (Standard Webhooks form, 32 random bytes), stores it in the protected
setting ``WEBHOOK_SECRET`` and answers it this once, so the admin can copy it into the
receiver. It is never shown again: InvenTree masks protected settings.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from ..validation import generate_webhook_secret
from .plugin_view import NotifyPlusView

NO_STORE = {"Cache-Control": "no-store"}


class WebhookSecretView(NotifyPlusView):
    """Generate and store the webhook signing secret (staff; answered once)."""

    def get(self, request: Request) -> Response:
        """Whether a secret is set, and which webhooks it signs (masked)."""
        plugin = self.plugin
        secret = (plugin.get_setting("WEBHOOK_SECRET", cache=False) or "").strip()
        hooks = [d for d in plugin.configured_destinations() if d["key"].startswith("webhook:")]
        return Response({"set": bool(secret), "webhooks": hooks}, headers=NO_STORE)

    def post(self, request: Request) -> Response:
        """Replace the secret with a fresh one and show it once."""
        plugin = self.plugin
        replaced = bool((plugin.get_setting("WEBHOOK_SECRET", cache=False) or "").strip())
        secret = generate_webhook_secret()
        plugin.set_setting("WEBHOOK_SECRET", secret, user=request.user)
        return Response(
            {
                "secret": secret,
                "replaced": replaced,
                "note": "Shown once: copy it into every receiver now. Receivers verify with it "
                "(Standard Webhooks); the old secret stops working at once.",
            },
            status=201,
            headers=NO_STORE,
        )
