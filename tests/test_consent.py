"""Email consent and readiness rules that need no InvenTree."""

from __future__ import annotations

import pytest

from inventree_notify_plus.inventree import readiness
from inventree_notify_plus.inventree.consent import own_choice, wants
from inventree_notify_plus.routing.config import parse_routes, parse_routes_lenient


@pytest.mark.parametrize(
    ("own", "core", "expected"),
    [
        (None, None, True),  # nobody said anything: InvenTree's default is on
        (None, "False", False),  # said no to InvenTree's email before Notify Plus came
        ("inherit", "False", False),
        ("inherit", "True", True),
        ("on", "False", True),  # opted in with Notify Plus's own setting
        ("off", "True", False),
        ("True", "False", False),  # 1.0's stored default is not an opt-in
        ("False", "True", False),
    ],
)
def test_email_consent_starts_from_inventree_choice(own, core, expected):
    assert wants(own, core) is expected


def test_unknown_stored_choice_means_inherit():
    assert own_choice("maybe") == "inherit"


def test_routes_with_an_unknown_destination_are_refused_naming_the_known_ones():
    with pytest.raises(Exception) as err:
        parse_routes('[{"part_category": [3], "to": ["slack:purchasng"]}]', ["slack:purchasing"])
    assert "unknown destination 'slack:purchasng'" in str(err.value)
    assert "configured: slack:purchasing" in str(err.value)


def test_a_route_that_became_invalid_is_skipped_and_the_others_kept():
    text = (
        '[{"part_category": [3], "to": ["slack:gone"]},'
        ' {"part_category": [4], "to": ["discord:lab"]}]'
    )
    routes, problems = parse_routes_lenient(text, ["discord:lab", "slack:default"])
    assert [r.to for r in routes] == [("discord:lab",)]
    assert len(problems) == 1 and "Route 1" in problems[0] and "slack:gone" in problems[0]


def test_unparsable_routes_say_so():
    routes, problems = parse_routes_lenient("[{", [])
    assert routes == [] and "ignored until fixed" in problems[0]


@pytest.mark.django_db
def test_readiness_sees_applied_and_missing_migrations(monkeypatch):
    readiness.forget()
    assert readiness.check().ready
    readiness.forget()
    monkeypatch.setattr(readiness, "migration_names", lambda: ("0001_initial", "0099_future"))
    state = readiness.check()
    assert not state.ready and state.pending == ("0099_future",)
    assert "check_for_migrations" in state.problems()[0]
    readiness.forget()
