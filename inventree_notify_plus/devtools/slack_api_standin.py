"""A loopback stand-in for Slack's Web API, as the Slack app mode uses it.

Beside the webhook stand-ins of ``standins`` (whose module is at its size limit); it answers and
records like them, and is scripted with the same ``Answer``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from .standins import LOOPBACK, Answer, LoopbackServer

# The stand-in's bot token unless a test gives its own (not a real token: nothing leaves loopback).
STANDIN_TOKEN = "xoxb-0000000000-standin-token"  # noqa: S105


class SlackApiStandIn(LoopbackServer):
    """Slack's Web API on loopback for the Slack app: ``chat.postMessage`` and ``chat.update``.

    It answers as Slack does: HTTP 200 with ``{"ok": true, "ts": ...}`` or ``{"ok": false,
    "error": ...}`` (``not_authed`` / ``invalid_auth`` for a missing or wrong bearer token,
    ``channel_not_found``, ``not_in_channel`` for a channel the bot was not invited to,
    ``message_not_found``, ``thread_not_found``), and 429 ``ratelimited`` with Retry-After when
    scripted (``then(standin.ratelimited(3))``). It keeps every message with its edits; thread
    replies are messages with a ``thread_ts``.
    """

    def __init__(
        self,
        token: str = STANDIN_TOKEN,
        channels: tuple[str, ...] = ("C0STANDIN1",),
        outside: tuple[str, ...] = (),
        port: int = 0,
    ) -> None:
        self.token = token
        self.channels = set(channels)
        self.outside = set(outside)  # channels that exist but the bot is not in
        self.script: deque[Answer] = deque()
        self.messages: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every request: method, body
        self.lock = threading.Lock()
        self._listen(port, self._handler())

    @property
    def url(self) -> str:
        """The Web API base URL (``INVENTREE_NOTIFY_PLUS_SLACK_API_URL``)."""
        return f"http://{LOOPBACK}:{self.port}/api/"

    def then(self, *answers: Answer) -> SlackApiStandIn:
        """Answer the next requests with these, in order, before answering normally again."""
        self.script.extend(answers)
        return self

    @staticmethod
    def ratelimited(seconds: int) -> Answer:
        """Slack's rate-limit answer: 429, ``ratelimited``, Retry-After in whole seconds."""
        return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(seconds)})

    # -- what arrived
    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Top-level messages (not thread replies), in order, with their ``edits``."""
        return [
            m
            for m in list(self.messages)
            if not m["thread_ts"] and (channel is None or m["channel"] == channel)
        ]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        """Thread replies under the message ``ts``."""
        return [m for m in list(self.messages) if m["thread_ts"] == ts]

    def message(self, ts: str) -> dict[str, Any] | None:
        """The message with this ``ts``."""
        return next((m for m in list(self.messages) if m["ts"] == ts), None)

    # -- behaviour
    def _answer(self, method: str, auth: str, body: dict[str, Any]) -> Answer:
        with self.lock:
            self.calls.append((method, body))
            if self.script:
                return self.script.popleft()
            if not auth:
                return _slack_error("not_authed")
            if auth != f"Bearer {self.token}":
                return _slack_error("invalid_auth")
            if method == "auth.test":
                return Answer(200, {"ok": True, "user_id": "U0STANDBOT", "team": "Stand-in"})
            if method not in ("chat.postMessage", "chat.update"):
                return _slack_error("unknown_method")
            channel = str(body.get("channel") or "")
            if channel in self.outside:
                return _slack_error("not_in_channel")
            if channel not in self.channels:
                return _slack_error("channel_not_found")
            if not body.get("text") and not body.get("blocks"):
                return _slack_error("no_text")
            if method == "chat.update":
                return self._update(channel, body)
            return self._post(channel, body)

    def _post(self, channel: str, body: dict[str, Any]) -> Answer:
        thread_ts = str(body.get("thread_ts") or "")
        if thread_ts and not any(
            m["ts"] == thread_ts and m["channel"] == channel for m in self.messages
        ):
            return _slack_error("thread_not_found")
        ts = f"{1764633600 + len(self.messages)}.{len(self.messages) + 1:06d}"
        message = {
            "channel": channel,
            "ts": ts,
            "thread_ts": thread_ts,
            "text": body.get("text", ""),
            "blocks": _blocks(body.get("blocks")),
            "edits": [],
        }
        self.messages.append(message)
        return Answer(200, {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}})

    def _update(self, channel: str, body: dict[str, Any]) -> Answer:
        ts = str(body.get("ts") or "")
        message = next(
            (m for m in self.messages if m["ts"] == ts and m["channel"] == channel), None
        )
        if message is None:
            return _slack_error("message_not_found")
        message["edits"].append(
            {"text": body.get("text", ""), "blocks": _blocks(body.get("blocks"))}
        )
        return Answer(200, {"ok": True, "channel": channel, "ts": ts, "text": body.get("text", "")})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                answer = standin._answer(method, self.headers.get("Authorization", ""), body)
                data = json.dumps(answer.body if answer.body is not None else {}).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _slack_error(error: str) -> Answer:
    return Answer(200, {"ok": False, "error": error})


def _blocks(value: Any) -> list[Any]:
    """Blocks as sent: a JSON body's list, or a form body's JSON string."""
    if isinstance(value, str):
        return json.loads(value or "[]")
    return list(value or [])
