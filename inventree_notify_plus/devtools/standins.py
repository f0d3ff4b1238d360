"""Loopback stand-ins for Slack and Discord webhooks and an SMTP server.

They answer like the real services (Slack: ``ok`` / 429 with a ``Retry-After`` header /
error words; Discord: 204 / 429 with ``retry_after`` in JSON), can be scripted to fail
(next answers, a fraction of requests, timeouts) and can enforce the real rate limits.
They record what they accepted, so tests assert what arrived, how often, with what text.
The Discord stand-in speaks the webhook message protocol: ``?wait=true`` answers the message
object (with its ``id``), without it 204; ``PATCH .../messages/<id>`` edits a stored message (404
Unknown Message for an id it never gave); ``messages`` holds each message's current body and
its edit history.

The SMTP stand-in needs ``aiosmtpd`` (the ``demo`` and ``test`` extras); it is imported only when
one starts, so the plugin and the webhook stand-ins import without it.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

LOOPBACK = "127.0.0.1"
DISCORD_EPOCH_MS = 1_420_070_400_000  # 2015-01-01, where Discord's snowflake ids count from


def free_port() -> int:
    """A port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    """A scripted answer: an HTTP status with body/headers, or 'timeout' / 'close'."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""  # "timeout": answer after `delay`; "close": drop the connection
    delay: float = 0.0


class _Bucket:
    def __init__(self, burst: int, per_second: float) -> None:
        self.burst, self.rate = burst, per_second
        self.tokens, self.at = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass, otherwise seconds until it could."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


@dataclass
class PostedMessage:
    """A message the Discord stand-in holds: what it shows now and every earlier version."""

    id: str
    payload: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def edits(self) -> int:
        """How many times it was edited."""
        return len(self.history)


class LoopbackServer:
    """An HTTP stand-in's server on 127.0.0.1: listening once made, serving inside ``with``."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    def _listen(self, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer((LOOPBACK, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        return self.server.server_address[1]


class WebhookStandIn(LoopbackServer):
    """A Slack- or Discord-like webhook endpoint on loopback."""

    def __init__(
        self,
        kind: str,
        fail_fraction: float = 0.0,
        seed: int = 1,
        rate_limit: tuple[int, float] | None = None,
        window_limit: tuple[int, float] | None = None,
        port: int = 0,
    ) -> None:
        self.kind = kind
        self.script: deque[Answer] = deque()
        self.fail_fraction = fail_fraction
        self.rng = random.Random(seed)
        self.bucket = _Bucket(*rate_limit) if rate_limit else None
        self.window_limit = window_limit
        self.accepted: list[dict[str, Any]] = []
        self.accepted_at: list[float] = []
        self.messages: dict[str, PostedMessage] = {}  # Discord: by message id, in posting order
        self.edited: list[tuple[str, dict[str, Any]]] = []  # Discord: each accepted PATCH
        self.requests = 0
        self.rate_limited = 0
        self.lock = threading.Lock()
        self._listen(port, self._handler())

    @property
    def url(self) -> str:
        """A webhook URL of the right shape for the service."""
        if self.kind == "slack":
            return f"http://{LOOPBACK}:{self.port}/services/T0TEST/B0TEST/SeCrEtToKeN"
        return f"http://{LOOPBACK}:{self.port}/api/webhooks/1234567890/SeCrEtToKeN"

    def then(self, *answers: Answer) -> WebhookStandIn:
        """Answer the next requests with these, in order, before accepting again."""
        self.script.extend(answers)
        return self

    # -- behaviour
    def _decide(self) -> Answer | None:
        with self.lock:
            self.requests += 1
            if self.script:
                return self.script.popleft()
            if self.fail_fraction and self.rng.random() < self.fail_fraction:
                return self.rng.choice(
                    [
                        Answer(500, "internal_error"),
                        Answer(502),
                        Answer(503),
                        self.rate_limit_answer(1.0),
                    ]
                )
            wait = self._over_limit()
            if wait:
                self.rate_limited += 1
                return self.rate_limit_answer(wait)
        return None

    def _over_limit(self) -> float:
        if self.bucket:
            wait = self.bucket.take()
            if wait:
                return wait
        if self.window_limit:
            count, seconds = self.window_limit
            now = time.monotonic()
            recent = [t for t in self.accepted_at if now - t < seconds]
            if len(recent) >= count:
                return seconds - (now - recent[0])
        return 0.0

    def rate_limit_answer(self, seconds: float) -> Answer:
        """A 429 the way the service sends it."""
        if self.kind == "slack":
            return Answer(429, "rate_limited", {"Retry-After": str(max(1, round(seconds + 0.49)))})
        return Answer(
            429,
            {
                "message": "You are being rate limited.",
                "retry_after": round(seconds, 3),
                "global": False,
            },
        )

    def _accept(self, payload: dict[str, Any], wait: bool = True) -> Answer:
        with self.lock:
            self.accepted.append(payload)
            self.accepted_at.append(time.monotonic())
            if self.kind == "slack":
                return Answer(200, "ok")
            # Snowflake-like ids (milliseconds since Discord's epoch, then a counter): unique
            # across stand-ins and restarts, as Discord's are.
            millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
            message_id = str((millis << 22) | (len(self.accepted) & 0x3FFFFF))
            self.messages[message_id] = PostedMessage(message_id, payload)
        if not wait:
            return Answer(204, "")
        return Answer(200, {**payload, "id": message_id, "type": 0})

    def _edit(self, message_id: str, payload: dict[str, Any]) -> Answer:
        """Discord's PATCH of a webhook message: fields sent replace the stored ones."""
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return Answer(404, {"message": "Unknown Message", "code": 10008})
            message.history.append(message.payload)
            message.payload = {**message.payload, **payload}
            self.edited.append((message_id, payload))
            return Answer(200, {**message.payload, "id": message_id, "type": 0})

    def message(self, index: int = -1) -> PostedMessage:
        """The ``index``-th message posted (Discord), as it reads now."""
        return list(self.messages.values())[index]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self._handle(edit=False)

            def do_PATCH(self) -> None:
                self._handle(edit=True)

            def _handle(self, edit: bool) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path, _, query = self.path.partition("?")
                if edit and (standin.kind != "discord" or "/messages/" not in path):
                    self.send_error(405)
                    return
                answer = standin._decide()
                if answer and answer.action == "close":
                    self.close_connection = True
                    self.connection.close()
                    return
                if answer and answer.action == "timeout":
                    time.sleep(answer.delay)
                if answer is None or (answer.action == "timeout" and answer.status == 200):
                    payload = json.loads(raw or b"{}")
                    if edit:
                        answer = standin._edit(path.rsplit("/", 1)[-1], payload)
                    else:
                        wait = "wait=true" in query.lower()
                        answer = standin._accept(payload, wait)
                body = answer.body
                data = (json.dumps(body) if isinstance(body, dict) else str(body or "")).encode()
                self.send_response(answer.status)
                ctype = "application/json" if isinstance(body, dict) else "text/plain"
                self.send_header("Content-Type", ctype)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


class _SmtpHandler:
    def __init__(self, server: SmtpStandIn) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.server.lock:
            self.server.peers.add(session.peer)
        code = self.server._decide(address)
        if code:
            return code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.server.delay:  # a slow mail server: the message is in flight meanwhile
            await asyncio.sleep(self.server.delay)
        message = message_from_bytes(envelope.content)
        with self.server.lock:
            self.server.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpStandIn:
    """A real SMTP server (aiosmtpd) on loopback that records messages and can refuse them."""

    def __init__(
        self, fail_fraction: float = 0.0, seed: int = 2, port: int = 0, delay: float = 0.0
    ) -> None:
        from aiosmtpd.controller import Controller

        self.script: dict[str, deque[str]] = {}
        self.fail_fraction = fail_fraction
        self.delay = delay
        self.rng = random.Random(seed)
        self.messages: list[tuple[list[str], Message]] = []
        self.requests = 0  # RCPT commands answered
        self.peers: set = set()  # client (host, port) pairs: one per SMTP connection used
        self.refused = 0  # of which refused (scripted or by fail_fraction)
        self.lock = threading.Lock()
        self.controller = Controller(
            _SmtpHandler(self), hostname=LOOPBACK, port=port or free_port()
        )

    def __enter__(self) -> SmtpStandIn:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        return self.controller.port

    def refuse(self, address: str, *codes: str) -> SmtpStandIn:
        """Answer RCPT for ``address`` with these replies (e.g. '451 4.3.0 later') first."""
        self.script.setdefault(address, deque()).extend(codes)
        return self

    def _decide(self, address: str) -> str | None:
        with self.lock:
            self.requests += 1
            queue = self.script.get(address)
            if queue:
                self.refused += 1
                return queue.popleft()
            if self.fail_fraction and self.rng.random() < self.fail_fraction:
                self.refused += 1
                return "451 4.3.0 Temporary failure, try again later"
        return None

    def to(self, address: str) -> list[Message]:
        """Messages delivered to ``address``."""
        return [m for rcpts, m in self.messages if address in rcpts]


class AppriseStandIn(WebhookStandIn):
    """An ntfy server, a Mattermost incoming webhook or Apprise's JSON endpoint on loopback.

    ``kind`` is ``ntfy`` (``ntfy://host:port/<topic>``, JSON published to the root),
    ``mattermost`` (``mmost://host:port/<token>``, posted to ``/hooks/<token>``) or ``json``
    (``json://host:port/<path>``: ``{version, title, message, type}``). Scripted failures and the
    rate limit answer as those servers do: 429 with ``Retry-After`` (ntfy adds its JSON error).
    """

    TOKEN = "SeCrEtToKeN0123456789abcd"  # noqa: S105 - a stand-in's fake token, for scrub tests

    def __init__(self, kind: str, **kwargs: Any) -> None:
        if kind not in ("ntfy", "mattermost", "json"):
            raise ValueError(f"unknown Apprise stand-in '{kind}'")
        super().__init__(kind, **kwargs)

    @property
    def url(self) -> str:
        """The Apprise URL of this stand-in."""
        host = f"{LOOPBACK}:{self.port}"
        if self.kind == "ntfy":
            return f"ntfy://{host}/stores-{self.TOKEN}"
        if self.kind == "mattermost":
            return f"mmost://{host}/{self.TOKEN}"
        return f"json://{host}/notify/{self.TOKEN}"

    def rate_limit_answer(self, seconds: float) -> Answer:
        """429 with ``Retry-After`` in whole seconds, like ntfy and nginx-fronted servers."""
        after = {"Retry-After": str(max(1, round(seconds + 0.49)))}
        if self.kind == "ntfy":
            return Answer(429, {"code": 42901, "http": 429, "error": "limit reached"}, after)
        return Answer(429, "Too Many Requests", after)

    def _accept(self, payload: dict[str, Any], wait: bool = True) -> Answer:
        with self.lock:
            self.accepted.append(payload)
            self.accepted_at.append(time.monotonic())
        if self.kind == "ntfy":
            return Answer(200, {"id": f"m{len(self.accepted)}", "event": "message"})
        return Answer(200, "ok")

    def titles(self) -> list[str]:
        """The title (or first line, for Mattermost, which has no title) of each message."""
        found = []
        for payload in self.accepted:
            title = payload.get("title") or (payload.get("text") or "").split("\n", 1)[0]
            found.append(str(title))
        return found

    def bodies(self) -> list[str]:
        """The body of each message as the service received it."""
        return [
            str(p.get("message") or p.get("text") or p.get("body") or "") for p in self.accepted
        ]
