"""Email: one message per recipient (nobody sees another's address), plain text and HTML.

Sent through Django's mail API with the connection InvenTree configured (its SMTP server and
its mail log); SMTP answers are classified per RFC 5321: 4xx try again, 5xx do not.
"""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import Context, Engine

from ..notice import Notice, Severity
from ..redaction import mask_email
from ..snoozing import links as snooze_links
from ..snoozing import user_of
from . import email_threading
from .base import (
    Channel,
    Destination,
    LineTable,
    SendResult,
    category_label,
    digest_headline,
    line_table,
)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "notify_plus"

# Our own template engine, so rendering works whether or not InvenTree installed the plugin's
# app (app integration off) and whatever InvenTree's template settings are. Autoescape on.
_engine = Engine(dirs=[str(TEMPLATE_DIR)], autoescape=True)
_text_engine = Engine(dirs=[str(TEMPLATE_DIR)], autoescape=False)

# Plain-text tables pad a column to its widest cell, up to this many characters.
TEXT_COLUMN_WIDTH = 40

_SEVERITY_COLOUR = {
    Severity.INFO: "#3498db",
    Severity.WARNING: "#f1c40f",
    Severity.CRITICAL: "#e74c3c",
}


class EmailChannel(Channel):
    """One recipient's mailbox."""

    kind = "email"
    rate_limit = None
    max_items = 2000

    @property
    def _shared(self) -> Any:
        """The batch connection of the calling thread (threads may share a channel)."""
        return getattr(self.__dict__.setdefault("_local", threading.local()), "connection", None)

    @_shared.setter
    def _shared(self, connection: Any) -> None:
        self.__dict__.setdefault("_local", threading.local()).connection = connection

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One SMTP connection for a batch of mails, not one per mail."""
        self._shared = get_connection(fail_silently=False, timeout=self.timeout)
        try:
            yield
        finally:
            shared, self._shared = self._shared, None
            with suppress(Exception):  # the mails are sent; a failing QUIT changes nothing
                shared.close()

    def subject(self, notices: Sequence[Notice]) -> str:
        """'[Instance] Low stock: M3 screw' or '[Instance] 5 notifications: …'."""
        title = notices[0].title if len(notices) == 1 else digest_headline(notices)
        prefix = f"[{self.context.instance_name}] " if self.context.instance_name else ""
        return (prefix + title).replace("\n", " ").replace("\r", " ")[:250]

    def render(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Subject, plain text and HTML for one recipient."""
        items = []
        for n in notices[: self.max_items]:
            table = line_table(n)
            items.append(
                {
                    "notice": n,
                    "label": category_label(n.category),
                    "colour": _SEVERITY_COLOUR[n.severity],
                    "table": table,
                    "text_table": text_table(table) if table else "",
                    "snooze": snooze_links(n, self.context.site_url, user_of(destination.key)),
                }
            )
        ctx = {
            "items": items,
            "more": max(0, len(notices) - self.max_items),
            "digest": len(notices) > 1,
            "headline": digest_headline(notices) if len(notices) > 1 else notices[0].title,
            "recipient": destination.recipient_name,
            "instance": self.context.instance_name,
            "site_url": self.context.site_url,
            "notifications_url": self.context.notifications_url,
        }
        return {
            "subject": self.subject(notices),
            "text": _text_engine.get_template("email.txt").render(Context(ctx, autoescape=False)),
            "html": _engine.get_template("email.html").render(Context(ctx)),
        }

    def send(
        self, destination: Destination, notices: Sequence[Notice], mentions: Sequence[str] = ()
    ) -> SendResult:
        """Send one message to one address through InvenTree's mail connection.

        Its Message-ID is stable (``email_threading``) and answered as the external id; a
        recovery or reminder is threaded under the email that announced its episode.
        """
        message = self.render(destination, notices)
        msgid = email_threading.message_id(
            destination.key, notices, email_threading.domain_of(self.context.site_url)
        )
        mail = EmailMultiAlternatives(
            subject=message["subject"],
            body=message["text"],
            from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None) or None,
            to=[destination.address],
            connection=self._connection(),
            headers={"Message-ID": msgid, **self.thread_headers(destination, notices)},
        )
        mail.attach_alternative(message["html"], "text/html")
        try:
            sent = mail.send(fail_silently=False)
        except Exception as exc:
            if self._shared is not None:
                self._drop_shared()
            return classify_smtp_error(exc, destination.address)
        if not sent:
            return SendResult.retry("the mail backend sent nothing (is email configured?)")
        return SendResult.sent(f"accepted for {mask_email(destination.address)}", external_id=msgid)

    def thread_headers(self, destination: Destination, notices: Sequence[Notice]) -> dict[str, str]:
        """In-Reply-To/References of a message continuing an episode, else none (a digest)."""
        episode = email_threading.episode_of(notices)
        if not episode:
            return {}
        original = email_threading.original_message_id(destination.key, episode, notices[0].uid)
        return email_threading.thread_headers(original)

    def _connection(self) -> Any:
        """The batch's open connection (opened on first use), or a connection for one mail."""
        if self._shared is None:
            return get_connection(fail_silently=False, timeout=self.timeout)
        if getattr(self._shared, "connection", None) is None:
            self._shared.open()
        return self._shared

    def _drop_shared(self) -> None:
        """After an error the connection may be broken: the next mail opens a fresh one."""
        with suppress(Exception):  # a broken connection may fail to close; it is dropped
            self._shared.close()


def text_table(table: LineTable, indent: str = "  ") -> str:
    """A notice's lines for the plain-text part: a header, then a row per line, its link below.

    Columns are separated by ' | ' and padded to their widest cell (up to TEXT_COLUMN_WIDTH),
    so a mail client with a fixed-width font shows them aligned; no value is ever cut.
    """
    grid = [table.columns] + [(row.title, *row.cells) for row in table.rows]
    widths = [min(TEXT_COLUMN_WIDTH, max(len(r[i]) for r in grid)) for i in range(len(grid[0]))]

    def line(cells: tuple[str, ...]) -> str:
        return (
            indent + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(table.columns), indent + "-+-".join("-" * w for w in widths)]
    for row, cells in zip(table.rows, grid[1:], strict=True):
        out.append(line(cells))
        if row.link:
            out.append(f"{indent}  {row.link}")
    return "\n".join(out)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it (InvenTree's mail backend re-raises SMTP errors)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_smtp_error(exc: BaseException, address: str) -> SendResult:
    """SMTP 4xx and network trouble: retry. 5xx for the address: permanent."""
    who = mask_email(address)
    for err in _causes(exc):
        if isinstance(err, smtplib.SMTPRecipientsRefused):
            codes = [(code, msg) for code, msg in err.recipients.values()]
            code, msg = codes[0] if codes else (0, b"")
            text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
            detail = f"SMTP {code} for {who}: {text}"
            return (
                SendResult.permanent(detail, code)
                if code >= 500
                else SendResult.retry(detail, status=code)
            )
        if isinstance(err, smtplib.SMTPAuthenticationError):
            return SendResult.retry(
                f"SMTP authentication failed ({err.smtp_code}); check InvenTree's email settings"
            )
        if isinstance(err, smtplib.SMTPResponseException):
            text = (
                err.smtp_error.decode(errors="replace")
                if isinstance(err.smtp_error, bytes)
                else str(err.smtp_error)
            )
            detail = f"SMTP {err.smtp_code} for {who}: {text}"
            if 500 <= err.smtp_code < 600:
                return SendResult.permanent(detail, err.smtp_code)
            return SendResult.retry(detail, status=err.smtp_code)
        if isinstance(
            err, smtplib.SMTPServerDisconnected | socket.timeout | ConnectionError | OSError
        ):
            return SendResult.retry(f"mail server unreachable: {type(err).__name__}: {err}")
    return SendResult.retry(f"{type(exc).__name__}: {exc}")
