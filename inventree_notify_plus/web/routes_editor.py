"""The routes editor: the ROUTES setting as rows, and rows back to the setting's JSON.

The admin console edits routes as rows; saving goes through InvenTree's plugin settings API,
whose validator (``settings``) runs the same ``routing.config.parse_routes`` as the editor's checks.
"""

from __future__ import annotations

import json
from typing import Any

from ..routing.config import as_list


def route_rows(text: str) -> list[dict[str, Any]]:
    """The ROUTES setting as rows for the editor (a stored value that is not JSON: no rows)."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    rows = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        rows.append(
            {
                "category": [str(c) for c in as_list(item.get("category"))],
                "part_category": [int(c) for c in as_list(item.get("part_category"))],
                "location": [int(c) for c in as_list(item.get("location"))],
                "to": [str(t) for t in as_list(item.get("to"))],
                "continue": bool(item.get("continue", False)),
            }
        )
    return rows


def rows_to_text(rows: list[dict[str, Any]]) -> str:
    """Editor rows back to the ROUTES setting's JSON (empty criteria left out)."""
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for key in ("category", "part_category", "location"):
            if row.get(key):
                item[key] = row[key]
        item["to"] = row.get("to") or []
        if row.get("continue"):
            item["continue"] = True
        out.append(item)
    return json.dumps(out) if out else ""


def names_for(rows: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """Path names of the part categories and locations the routes name (for the editor's chips)."""
    from part.models import PartCategory
    from stock.models import StockLocation

    cats = {pk for r in rows for pk in r.get("part_category", [])}
    locs = {pk for r in rows for pk in r.get("location", [])}
    return {
        "part_category": {c.pk: c.pathstring for c in PartCategory.objects.filter(pk__in=cats)},
        "location": {loc.pk: loc.pathstring for loc in StockLocation.objects.filter(pk__in=locs)},
    }
