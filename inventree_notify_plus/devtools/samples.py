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
        line_heading="Part",
    )


def stale_stock_notice(part_name: str = "M3 screw", items: int = 2) -> Notice:
    """A stale-stock notice like ``stock.notify_stale_stock``: one row per item near expiry."""
    rows = []
    for n in range(1, items + 1):
        expired = n % 2 == 0
        rows.append(
            Line(
                part_name if n == 1 else f"Part {n}",
                f"{SITE}/web/stock/item/{n}",
                (
                    Fact("Location", f"Store/Shelf {n}"),
                    Fact("Quantity", f"{n * 5} pcs"),
                    Fact("Batch", f"B-{n:03d}"),
                    Fact("Serial Number", "-" if n > 1 else "SN-1"),
                    Fact("Expiry Date", f"2030-01-{n:02d}"),
                    Fact("Days Until Expiry", f"Expired {n} days ago" if expired else f"{n} days"),
                ),
            )
        )
    return Notice(
        uid=stable_uid("stale", part_name, items),
        category="stock.notify_stale_stock",
        title=f"Stale stock: {items} items approaching expiry",
        summary=f"You have {items} stock items approaching their expiry dates",
        severity=Severity.CRITICAL if items > 1 else Severity.WARNING,
        facts=(Fact("Items", str(items)), Fact("Earliest expiry", "2030-01-01")),
        lines=tuple(rows),
        line_heading="Part",
    )
