"""What the tests against a live InvenTree (rings 3 and 4) share."""

from __future__ import annotations

import time


def wait_for(condition, seconds: float = 90.0, step: float = 1.0):
    """Poll until ``condition()`` is truthy (InvenTree's worker works asynchronously)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()
