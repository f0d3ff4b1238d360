"""What the tests against a live InvenTree (rings 3 and 4) share."""

from __future__ import annotations

import os
import time

import pytest


def under_ci() -> bool:
    """True in CI (``CI=true``), where a ring that cannot run must fail, never skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(message: str) -> None:
    """Skip the calling test module with ``message``; under CI, fail it with the same line."""
    if under_ci():
        pytest.fail(f"CI: {message} (CI=true: this ring must run, not skip)", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def live_url(variable: str, ring: str) -> str:
    """The live InvenTree's URL from ``variable``: without one, skip the module (fail under CI)."""
    url = os.environ.get(variable, "").strip().rstrip("/")
    if not url:
        prefix = variable.removesuffix("_URL")
        skip_or_fail(
            f"no live InvenTree: set {variable} (and {prefix}_USER, {prefix}_PASSWORD) to run {ring}"
        )
    return url


def wait_for(condition, seconds: float = 90.0, step: float = 1.0):
    """Poll until ``condition()`` is truthy (InvenTree's worker works asynchronously)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()
