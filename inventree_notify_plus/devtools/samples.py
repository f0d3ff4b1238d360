"""Sample notices shaped like the ones the plugin builds from InvenTree.

Shared by the tests, the demo, the measurement scripts and the README pictures, so they all
show the same thing. ``HOSTILE`` is a part name that tries to ping and format; ``MARKUP`` tries
every kind of Slack markup (formatting, a channel link, mentions).
"""

from __future__ import annotations

from ..notice import Fact, Line, Notice, Severity, stable_uid

HOSTILE = "@everyone <!channel> **x**"
MARKUP = "*bold* _it_ ~x~ `code` #general @here <!channel>"
SITE = "http://inventree.local"


def low_stock_notice(name: str, n: int) -> Notice:
    """A low-stock notice shaped like the one the plugin builds from InvenTree."""
    return Notice(
        uid=stable_uid("low", name, n),
        category="part.notify_low_stock",
        title=f"Low stock: {name}",
        summary=f"Available stock 3 pcs is below the minimum of 10 pcs ({n}).",
        link=f"http://inventree.local/part/{n}/",
        severity=Severity.WARNING,
        facts=(
            Fact("Part", name),
            Fact("IPN", f"SCR-{n:04d}"),
            Fact("Available", "3 pcs"),
            Fact("Minimum", "10 pcs"),
            Fact("Shortfall", "7 pcs"),
            Fact("Category", "Mechanical / Fasteners"),
        ),
    )


def build_shortfall_notice(reference: str = "BO-0042", short_title: str = "M3 x 8 screw") -> Notice:
    """A new build order with two short lines, like ``build.stock_required``."""
    return Notice(
        uid=stable_uid("build", reference),
        category="build.stock_required",
        title=f"Build order {reference} lacks parts",
        summary=f"2 line(s) of {reference} (Widget x 5) are short of stock.",
        link=f"{SITE}/web/manufacturing/build-order/42",
        facts=(Fact("Build order", reference), Fact("Assembly", "Widget"), Fact("Quantity", "5")),
        lines=(
            Line(
                "Resistor 10k",
                f"{SITE}/web/part/7",
                (Fact("required", "50"), Fact("available", "12")),
            ),
            Line(
                short_title, f"{SITE}/web/part/12", (Fact("required", "20"), Fact("available", "3"))
            ),
        ),
    )
