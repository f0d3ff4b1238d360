"""Ring 1: the routes editor's rows and the ROUTES setting's JSON say the same thing."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from inventree_notify_plus.routing.config import RoutingConfig, parse_routes
from inventree_notify_plus.web import routes_editor, subscriptions


def test_rows_round_trip_to_the_setting_routing_reads():
    stored = json.dumps(
        [
            {"category": "part.notify_low_stock", "part_category": [3, 4], "to": "slack:ops"},
            {"location": 7, "to": ["discord:default"], "continue": True},
        ]
    )
    rows = routes_editor.route_rows(stored)
    assert rows == [
        {
            "category": ["part.notify_low_stock"],
            "part_category": [3, 4],
            "location": [],
            "to": ["slack:ops"],
            "continue": False,
        },
        {
            "category": [],
            "part_category": [],
            "location": [7],
            "to": ["discord:default"],
            "continue": True,
        },
    ]
    text = routes_editor.rows_to_text(rows)
    assert json.loads(text) == [
        {"category": ["part.notify_low_stock"], "part_category": [3, 4], "to": ["slack:ops"]},
        {"location": [7], "to": ["discord:default"], "continue": True},
    ]
    assert parse_routes(text, ["slack:ops", "discord:default"]) == parse_routes(
        stored, ["slack:ops", "discord:default"]
    )


def test_no_rows_store_an_empty_setting_and_bad_json_shows_no_rows():
    assert routes_editor.rows_to_text([]) == ""
    assert routes_editor.route_rows("") == []
    assert routes_editor.route_rows("[{") == []


def test_editor_rows_get_the_errors_saving_gives():
    rows = [{"category": ["part.notify_low_stock"], "to": ["slack:nowhere"]}]
    with pytest.raises(ValidationError, match="Route 1: unknown destination 'slack:nowhere'"):
        parse_routes(routes_editor.rows_to_text(rows), ["slack:default"])
    with pytest.raises(ValidationError, match="Route 1 matches nothing in particular"):
        parse_routes(routes_editor.rows_to_text([{"to": ["slack:default"]}]), ["slack:default"])


def test_routes_in_scope_name_the_routes_a_page_is_under():
    config = RoutingConfig(
        routes=parse_routes(
            json.dumps(
                [
                    {"part_category": [1], "to": "slack:a", "continue": True},
                    {"location": [9], "to": "slack:b"},
                    {"category": "build.stock_required", "to": "slack:c"},
                ]
            )
        )
    )
    found = subscriptions.routes_in_scope(
        config, {"part_category_path": [2, 1], "location_path": []}
    )
    assert [(r["route"], r["to"], r["continue"]) for r in found] == [
        (1, ["slack:a"], True),
        (3, ["slack:c"], False),
    ]
