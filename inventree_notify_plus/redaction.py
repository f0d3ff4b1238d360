"""Keep webhook secrets out of logs, errors and API answers.

A Slack or Discord webhook URL *is* the credential: anyone holding it can post. Everything
that is logged or stored as an error passes through :func:`scrub`.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_url(url: str) -> str:
    """Show scheme, host and the first path segment, hide the rest.

    ``https://hooks.slack.com/services/T000/B000/XXXX`` -> ``https://hooks.slack.com/services/***``
    """
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    segments = [s for s in parts.path.split("/") if s]
    shown = "/".join(segments[:1])
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}/{shown}/***" if shown else f"{parts.scheme}://{netloc}/***"


def mask_email(address: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``: enough to recognise, not to harvest."""
    local, _, domain = address.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def scrub(text: str, *secrets: str) -> str:
    """Replace every secret (and its path, which libraries quote in errors) with a mask."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, mask_url(secret))
        path = urlsplit(secret).path
        if path and len(path) > 1:
            text = text.replace(path, "/***")
    return text
