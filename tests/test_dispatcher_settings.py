"""The worker's dispatcher takes the retry settings as stored (issue 15): 0 is not 10."""

from __future__ import annotations

import pytest

from inventree_notify_plus.inventree.worker_dispatcher import setting_int


class Plugin:
    """Stands for the plugin: stored values, and the declared defaults."""

    SETTINGS = {
        "RETRY_MAX_ATTEMPTS": {"default": 10},
        "RETRY_MAX_HOURS": {"default": 24},
        "GROUP_INTERVAL": {"default": 60},
    }

    def __init__(self, **stored: object) -> None:
        self.stored = stored

    def get_setting(self, key: str, cache: bool = True) -> object:
        return self.stored[key]


@pytest.mark.parametrize(
    ("key", "stored", "least", "used"),
    [
        ("RETRY_MAX_ATTEMPTS", 0, 1, 1),  # 0: one attempt, never the default's 10
        ("RETRY_MAX_HOURS", 0, 1, 1),  # 0: one hour, never the default's 24
        ("RETRY_MAX_ATTEMPTS", 3, 1, 3),
        ("RETRY_MAX_HOURS", "5", 1, 5),
        ("GROUP_INTERVAL", 0, 0, 0),  # a grouping interval of 0 means no grouping
        ("GROUP_INTERVAL", -4, 0, 0),
        ("RETRY_MAX_ATTEMPTS", "", 1, 10),  # not a number at all: the declared default
        ("RETRY_MAX_HOURS", None, 1, 24),
    ],
)
def test_settings_are_used_as_stored_with_a_floor(key, stored, least, used):
    assert setting_int(Plugin(**{key: stored}), key, least) == used
