"""The 'Why?' reasons table: the first reason that holds is the answer; statuses read as words."""

from __future__ import annotations

from inventree_notify_plus.inventree.explain_reasons import REASONS, Facts, reasons, status_text


def ready(**changes) -> Facts:
    """A subscribed viewer who wants email, about an object with one notice: nothing in the way."""
    return Facts(**{"subscribed": True, "can_view": True, "notices": 1, **changes})


def first(facts: Facts) -> str | None:
    found = reasons(facts)
    return found[0]["code"] if found else None


def test_nothing_in_the_way_gives_no_reason():
    assert reasons(ready()) == []


def test_the_order_is_not_subscribed_then_permission_then_consent_then_switch():
    facts = Facts(
        subscribed=False,
        can_view=False,
        wants_email=False,
        email_choice_by="the user's own Notify Plus setting",
        switch_off="'Low stock notices' is off",
    )
    assert [r["code"] for r in reasons(facts)][:4] == [
        "not_subscribed",
        "no_view_permission",
        "said_no_to_email",
        "switch_off",
    ]
    assert first(ready(can_view=False, wants_email=False)) == "no_view_permission"
    assert first(ready(wants_email=False, switch_off="x")) == "said_no_to_email"


def test_an_announced_episode_names_when_and_links_the_delivery():
    announced = {"pk": 41, "at": "2026-12-01T10:00:00+00:00", "destination": "slack:default"}
    [row] = reasons(ready(announced=announced))
    assert row["code"] == "episode_announced"
    assert "2026-12-01T10:00:00+00:00" in row["text"] and "slack:default" in row["text"]
    assert row["link"] == {"delivery": 41}


def test_inventree_dedupe_comes_after_the_episode_and_says_until_when():
    facts = ready(
        announced={"pk": 1, "at": "t", "destination": "d"},
        dedupe_until="2026-12-02T10:00:00+00:00",
        dedupe_key="part.notify_low_stock",
    )
    assert [r["code"] for r in reasons(facts)] == ["episode_announced", "inventree_dedupe"]
    assert "until 2026-12-02T10:00:00+00:00" in reasons(facts)[1]["text"]


def test_a_held_delivery_names_its_silence_and_no_notice_is_last():
    assert first(ready(held=[{"status": "silenced", "silence": 7}])) == "silenced"
    assert "#7" in reasons(ready(held=[{"status": "silenced", "silence": 7}]))[0]["text"]
    assert first(ready(held=[{"status": "pending"}])) == "pending"
    assert first(ready(notices=0)) == "no_notice"
    assert REASONS[-1].code == "no_notice"


def test_statuses_read_as_words_and_an_unknown_status_reads_generically():
    assert status_text({"status": "sent", "sent": "2026-12-01T10:00"}) == "sent at 2026-12-01T10:00"
    assert status_text({"status": "failed", "attempts": 3}) == "failed after 3 attempt(s)"
    assert status_text({"status": "silenced", "silence": None}) == "held by silence #?"
    assert status_text({"status": "covered_by_order"}) == "status 'covered_by_order'"
