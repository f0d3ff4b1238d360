"""Signed outgoing webhooks: a versioned JSON document per notice, signed per Standard Webhooks.

Each notice is one POST (a digest is not a document of its own): the ``webhook-id`` header is
the delivery's own key (``msg_`` + notice uid and destination, the outbox row's ``key``), so a
retry sends the *same* id with a fresh ``webhook-timestamp`` and signature, and a receiver that
saw the id already can drop the repeat. ``standardwebhooks.Webhook(secret).sign`` makes the
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``).

Answers: 2xx sent; 429 retried after ``Retry-After``; 408, 425, 5xx, timeouts and refused
connections retried; redirects and other 4xx fail for good with the receiver's answer
(truncated, the URL scrubbed). The secret is never logged, shown or put into an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from ..notice import Notice
from ..redaction import scrub
from .base import (
    Channel,
    Destination,
    RateLimit,
    SendResult,
    category_label,
    retry_after_seconds,
)

# The document's version: a receiver checks it; a field is only ever added within a version.
DOCUMENT_VERSION = 1
# How much of a refusing receiver's answer the delivery log keeps.
MAX_ANSWER = 300
USER_AGENT = "InvenTree-Notify-Plus-Webhooks/1"
# Statuses a receiver sends for 'not now' (besides 429 and 5xx).
TRANSIENT = frozenset({408, 425})


def message_id(destination_key: str, notice: Notice) -> str:
    """The ``webhook-id`` of one notice to one destination: the outbox row's key.

    Stable across retries and resends (the same notice to the same destination is one row), so
    receivers dedupe on it.
    """
    from ..notice import stable_uid

    return f"msg_{stable_uid(notice.uid, destination_key)}"


def object_of(notice: Notice) -> dict[str, Any] | None:
    """``{"type": "part", "model": "part.part", "pk": 12, "url": …}`` or None without an object."""
    if not notice.object_ref:
        return None
    model, _, pk = notice.object_ref.partition(":")
    return {
        "type": model.rpartition(".")[2],
        "model": model,
        "pk": int(pk) if pk.isdigit() else pk,
        "url": notice.link or None,
    }


def document(
    notice: Notice,
    recipients: Sequence[str],
    sent_at: datetime,
    instance: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON document one notice is POSTed as (version 1; see docs/webhooks.md)."""
    return {
        "version": DOCUMENT_VERSION,
        "type": f"notice.{notice.state or 'firing'}",
        "id": notice.uid,
        "category": notice.category,
        "category_label": category_label(notice.category),
        "object": object_of(notice),
        "title": notice.title,
        "summary": notice.summary,
        "severity": str(notice.severity),
        "link": notice.link or None,
        "facts": [{"label": f.label, "value": f.value} for f in notice.facts],
        "lines": [
            {
                "title": line.title,
                "link": line.link or None,
                "facts": [{"label": f.label, "value": f.value} for f in line.facts],
            }
            for line in notice.lines
        ],
        "recipients": sorted(recipients),
        "episode": {"id": notice.episode or None, "state": notice.state or "firing"},
        "instance": dict(instance or {}),
        "sent_at": sent_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


class WebhookChannel(Channel):
    """POST each notice as a signed JSON document to the admin's receiver."""

    kind = "webhook"
    # The receiver is the admin's own server: a burst of 10, then 5 a second, keeps a backlog
    # moving without flooding a small automation box.
    rate_limit = RateLimit(burst=10, per_second=5.0)
    # One notice per POST: the webhook-id is the delivery's, so retries are deduplicable.
    max_items = 1

    def capacity(self, notices: Sequence[Notice]) -> int:
        """Always one: each notice is its own document with its own webhook-id."""
        return 1

    def _instance(self) -> dict[str, str]:
        return {"name": self.context.instance_name, "url": self.context.site_url}

    def render(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """One document per notice (``mentions`` are the recipients' usernames)."""
        now = datetime.now(UTC)
        return [document(n, mentions, now, self._instance()) for n in notices]

    def signed(
        self, destination: Destination, notice: Notice, mentions: Sequence[str], now: datetime
    ) -> tuple[bytes, dict[str, str]]:
        """The body and the Standard Webhooks headers for one notice, signed at ``now``."""
        body = json.dumps(
            document(notice, mentions, now, self._instance()),
            ensure_ascii=False,
            separators=(",", ":"),
        )
        msg_id = message_id(destination.key, notice)
        signature = Webhook(destination.secret).sign(msg_id, now, body)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        return body.encode(), headers

    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """POST each notice in turn; the first that is not accepted answers for the message.

        Those accepted before it are sent again on the retry, under the same webhook-id.
        """
        if not destination.secret:
            return SendResult.permanent("no webhook secret: a webhook is never sent unsigned")
        result = SendResult.permanent("nothing to send")
        for notice in notices:
            result = self._post(destination, notice, mentions)
            if result.outcome != "sent":
                return result
        return result

    def _post(
        self, destination: Destination, notice: Notice, mentions: Sequence[str]
    ) -> SendResult:
        try:
            body, headers = self.signed(destination, notice, mentions, datetime.now(UTC))
        except Exception as exc:  # a secret that no longer decodes: say so, never show it
            return SendResult.permanent(f"could not sign: {type(exc).__name__} (check the secret)")
        try:
            response = requests.post(
                destination.address,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return SendResult.retry(scrub(f"{type(exc).__name__}: {exc}", destination.address))
        return classify_webhook_response(
            response.status_code,
            response.text,
            response.headers,
            headers["webhook-id"],
            destination.address,
        )


def classify_webhook_response(
    status: int, body: str, headers: Mapping[str, str] | None, msg_id: str, url: str = ""
) -> SendResult:
    """Turn a receiver's answer into sent / retry(-after) / permanent, its words kept (scrubbed)."""
    answer = scrub(" ".join((body or "").split()), url) if url else " ".join((body or "").split())
    if len(answer) > MAX_ANSWER:
        answer = answer[:MAX_ANSWER] + "… (truncated)"
    said = f": {answer}" if answer else ""
    if 200 <= status < 300:
        return SendResult.sent(f"accepted ({status})", status=status, external_id=msg_id)
    if status == 429:
        seconds = retry_after_seconds((headers or {}).get("Retry-After"))
        # The receiver's words are left out here: the retry policy reads this detail.
        return SendResult.retry(f"rate limited (429), retry_after {seconds}s", seconds, status)
    if status >= 500 or status in TRANSIENT:
        return SendResult.retry(f"receiver answered {status}{said}", status=status)
    if 300 <= status < 400:
        return SendResult.permanent(
            f"receiver answered {status} (a redirect, not followed: set the final URL)",
            status=status,
        )
    return SendResult.permanent(f"receiver answered {status}{said}", status=status)
