"""A loopback Standard Webhooks receiver that verifies every signed delivery.

Beside the webhook stand-ins of ``standins`` (whose module is at its size limit); it answers and
records like them, and is scripted with the same ``Answer``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from .standins import LOOPBACK, Answer, LoopbackServer


@dataclass
class SignedRequest:
    """One POST a signed-webhook stand-in received, and what it made of it."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str = ""
    status: int = 0

    @property
    def webhook_id(self) -> str:
        """The ``webhook-id`` header (the delivery's stable id)."""
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body or b"null")


class SignedWebhookStandIn(LoopbackServer):
    """A Standard Webhooks receiver on loopback: it verifies EVERY request's signature.

    Verification is ``standardwebhooks.Webhook(secret).verify(body, headers)``, the library a
    real receiver uses (timestamp tolerance included). A request that fails it is answered 401
    and recorded as failed; one that passes is answered by the script (``then``: 500, 503, 429
    with ``Retry-After``, ...) or accepted with 204. ``accepted`` lists the verified requests
    answered 2xx, ``unique`` those with distinct webhook-ids (what a deduplicating receiver keeps).
    """

    def __init__(self, secret: str, port: int = 0) -> None:
        from standardwebhooks import Webhook

        self.verifier = Webhook(secret)
        self.secret = secret  # the demo and tests sign with it; a stand-in's own, never real
        self.script: deque[Answer] = deque()
        self.received: list[SignedRequest] = []
        self.lock = threading.Lock()
        self._listen(port, self._handler())

    @property
    def url(self) -> str:
        """Where to POST (http: loopback must be in INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS)."""
        return f"http://{LOOPBACK}:{self.port}/hooks/inventree"

    def use_secret(self, secret: str) -> SignedWebhookStandIn:
        """Verify with ``secret`` from now on (one generated in the console, say)."""
        from standardwebhooks import Webhook

        with self.lock:
            self.verifier, self.secret = Webhook(secret), secret
        return self

    def then(self, *answers: Answer) -> SignedWebhookStandIn:
        """Answer the next verified requests with these, in order, before accepting again."""
        self.script.extend(answers)
        return self

    def fail_times(self, status: int, times: int, retry_after: str = "") -> SignedWebhookStandIn:
        """Answer the next ``times`` verified requests with ``status`` (429: with Retry-After)."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        return self.then(*(Answer(status, "try later", headers) for _ in range(times)))

    @property
    def verified(self) -> list[SignedRequest]:
        """Requests whose signature verified."""
        with self.lock:
            return [r for r in self.received if r.verified]

    @property
    def failed(self) -> list[SignedRequest]:
        """Requests whose signature (or timestamp) did not verify."""
        with self.lock:
            return [r for r in self.received if not r.verified]

    @property
    def accepted(self) -> list[SignedRequest]:
        """Verified requests it answered 2xx."""
        return [r for r in self.verified if 200 <= r.status < 300]

    @property
    def unique(self) -> dict[str, SignedRequest]:
        """Accepted requests by webhook-id, first one kept (a deduplicating receiver's view)."""
        found: dict[str, SignedRequest] = {}
        for request in self.accepted:
            found.setdefault(request.webhook_id, request)
        return found

    def _receive(self, headers: dict[str, str], body: bytes) -> tuple[Answer, SignedRequest]:
        try:
            self.verifier.verify(body, headers)
            record = SignedRequest(headers, body, verified=True)
        except Exception as exc:  # WebhookVerificationError, or a malformed header
            record = SignedRequest(headers, body, verified=False, error=str(exc))
        with self.lock:
            if not record.verified:
                answer = Answer(401, "signature did not verify")
            elif self.script:
                answer = self.script.popleft()
            else:
                answer = Answer(204)
            record.status = answer.status
            self.received.append(record)
        return answer, record

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer, _ = standin._receive(headers, raw)
                data = str(answer.body or "").encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/plain")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

        return Handler
