"""The plugin's settings as native values, read in one query (InvenTree edge).

InvenTree's own ``get_setting`` costs a query per key without its cache, and its cache may be
stale in a worker process when the admin saves a setting in the web server; one query for all
of them is both fresh and cheap.
"""

from __future__ import annotations

from typing import Any

TRUE = ("true", "1", "yes", "on", "y")


class Snapshot(dict):
    """Settings by key; a default computed by a function is computed only when read."""

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if callable(value):
            value = value()
            self[key] = value
        return value


def native(raw: str | None, spec: dict[str, Any]) -> Any:
    """A stored string as the setting's type (bool, int or str), or its default."""
    if raw is None:
        return spec.get("default")
    validators = spec.get("validator")
    validators = validators if isinstance(validators, list) else [validators]
    if bool in validators:
        return str(raw).strip().lower() in TRUE
    if int in validators:
        try:
            return int(raw)
        except ValueError:
            return spec.get("default")
    return raw


def read_all(plugin: Any) -> Snapshot:
    """Every global setting of ``plugin``, stored or default."""
    from plugin.models import PluginSetting

    stored = dict(PluginSetting.objects.filter(plugin__key=plugin.slug).values_list("key", "value"))
    return Snapshot((key, native(stored.get(key), spec)) for key, spec in plugin.SETTINGS.items())
