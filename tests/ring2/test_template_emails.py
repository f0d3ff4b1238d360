"""Ring 2: Notify Plus's email is never worse than InvenTree's own (issue 15, point 5).

For each category InvenTree renders with an email template of its own, InvenTree's real code
path runs with Notify Plus active (its defaults: *other notifications* on). The test captures
what InvenTree's email method renders for that notification (its template, with the same
context, at the moment it renders it) and the notice Notify Plus queued for the recipient's
email, renders that notice through ``channels/email.py`` alone and inside a digest, and
compares fact by fact, mechanically:

- every value InvenTree's template prints (each ``{{ ... }}``, ``{% decimal %}`` and
  ``{% blocktrans %}`` variable, recorded while it renders) appears in our plain-text part and
  in our HTML;
- every body row of InvenTree's table (read with an HTML parser): each of its texts appears in
  our email, and a row with a link (a stock item, a short part) is our table row with the same
  link, holding every text of InvenTree's row;
- every link of InvenTree's email is a link in ours.

Numbers compare by value ('5.00000' is '5'); a dangling separator (InvenTree prints a location
without description as 'Store/Shelf 1 - ') is not a fact. The subject is not compared: ours
names the object ('Overdue Purchase Order: PO-0101'), InvenTree's only the kind.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from unittest import mock

from django.contrib.auth.models import Group, User
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartStar
from plugin import registry

from inventree_notify_plus.channels import EmailChannel
from inventree_notify_plus.channels.base import Destination
from inventree_notify_plus.devtools.samples import low_stock_notice
from inventree_notify_plus.inventree import readiness
from inventree_notify_plus.inventree.worker_dispatcher import render_context
from inventree_notify_plus.models import Delivery
from inventree_notify_plus.notice import Notice

# Notices whose summary is Notify Plus's own sentence rather than InvenTree's message; every
# value that message names (the part, the build order) is compared on its own.
OWN_SUMMARY = {"part.notify_low_stock", "build.stock_required"}
DOCS = "https://docs.inventree.org"

# -- what InvenTree's email method renders ---------------------------------------------------


@dataclass
class Rendered:
    """One email template InvenTree rendered: its name, HTML and every value it printed."""

    template: str
    html: str = ""
    values: list[str] = field(default_factory=list)
    message: str = ""


class _Recording:
    """A Django template that records the values it prints while InvenTree renders it."""

    def __init__(self, template: Any, name: str, captured: list[Rendered]) -> None:
        self.template = template
        self.rendered = Rendered(name)
        captured.append(self.rendered)

    def render(self, context: Any = None, request: Any = None) -> str:
        import InvenTree.helpers
        from django.template import base
        from django.templatetags import i18n

        self.rendered.message = str((context or {}).get("message", ""))
        values = self.rendered.values
        constant = [0]  # inside {% trans %}: a label, not a value
        printing, decimal2string = base.render_value_in_context, InvenTree.helpers.decimal2string
        translate = i18n.TranslateNode.render

        def record(value: Any, ctx: Any) -> str:
            out = printing(value, ctx)
            if not constant[0]:
                values.append(html.unescape(str(out)))
            return out

        def label(node: Any, ctx: Any) -> str:
            constant[0] += 1
            try:
                return translate(node, ctx)
            finally:
                constant[0] -= 1

        def number(value: Any) -> str:
            out = decimal2string(value)
            values.append(str(out))
            return out

        with (
            mock.patch.object(base, "render_value_in_context", record),
            mock.patch.object(i18n, "render_value_in_context", record),
            mock.patch.object(i18n.TranslateNode, "render", label),
            mock.patch.object(InvenTree.helpers, "decimal2string", number),
        ):
            self.rendered.html = self.template.render(context, request)
        return self.rendered.html


@contextmanager
def inventree_emails() -> Iterator[list[Rendered]]:
    """Every ``email/`` template rendered meanwhile (InvenTree's email method renders one per
    notification with ``render_to_string``, before it knows whom it will mail)."""
    from django.template import loader

    captured: list[Rendered] = []
    get_template = loader.get_template

    def recording(name: str, using: Any = None) -> Any:
        template = get_template(name, using=using)
        return _Recording(template, name, captured) if str(name).startswith("email/") else template

    with mock.patch.object(loader, "get_template", recording):
        yield captured


# -- reading an HTML email ------------------------------------------------------------------


@dataclass
class Row:
    """One table row: the texts of its ``<td>`` cells (labels in ``<th>`` left out), its links."""

    texts: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class _Mail(HTMLParser):
    """An HTML email as its texts, its links and its table rows (the outermost table's too)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self.rows: list[Row] = []
        self._rows: list[Row | None] = []  # the open row of each open table
        self._in_td = 0
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows.append(None)
        elif tag == "tr" and self._rows:
            self._rows[-1] = Row()
            self.rows.append(self._rows[-1])
        elif tag == "td":
            self._in_td += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append(href)
            for row in self._rows:
                if row is not None:
                    row.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._rows:
            self._rows.pop()
        elif tag == "tr" and self._rows:
            self._rows[-1] = None
        elif tag == "td":
            self._in_td = max(0, self._in_td - 1)

    def handle_data(self, data: str) -> None:
        if not data.strip():
            return
        self.texts.append(data)
        if self._in_td:
            for row in self._rows:
                if row is not None:
                    row.texts.append(data)


def _number(match: re.Match) -> str:
    return f"{Decimal(match.group()).normalize():f}"


def haystack(text: str) -> str:
    """Whitespace collapsed, every decimal number written by value."""
    text = " ".join(html.unescape(str(text)).split())
    return re.sub(r"(?<![\w.])\d+\.\d+(?![\w.])", _number, text)


def fact(text: str) -> str:
    """A value as compared: like ``haystack``, without dangling separators ('-', ':')."""
    return haystack(text).strip(" -:")


def shows(value: str, text: str) -> bool:
    """``value`` stands in ``text`` as a whole: '12' is not found in '127.0.0.1' or '2026-12-01'."""
    pattern = r"(?<![\w.\-/])" + re.escape(value) + r"(?![\w\-/]|\.\d)"
    return re.search(pattern, text) is not None


def body_rows(source: str) -> list[Row]:
    """The rows of InvenTree's email between its header row and its footer row."""
    rows = _Mail(source).rows
    return [r for r in rows[1:-1] if not any(link.startswith(DOCS) for link in r.links)]


# -- the test -------------------------------------------------------------------------------


class NeverWorseThanInvenTreesEmail(InvenTreeTestCase):
    """Each templated category: InvenTree's email and ours, fact by fact."""

    roles = [
        "part.view",
        "part_category.view",
        "stock.view",
        "stock_location.view",
        "build.view",
        "purchase_order.view",
        "sales_order.view",
        "return_order.view",
    ]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        from company.models import Company
        from stock.models import StockLocation

        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.alice = User.objects.create_user("alice", "alice@example.com", "x", first_name="Alice")
        cls.alice.groups.add(Group.objects.get(name=cls.group.name))
        parent = PartCategory.objects.create(name="Mechanical")
        cls.category = PartCategory.objects.create(name="Fasteners", parent=parent)
        store = StockLocation.objects.create(name="Store")
        cls.shelf = StockLocation.objects.create(name="Shelf 1", parent=store)
        cls.cold = StockLocation.objects.create(
            name="Fridge", parent=store, description="Cold & <dry>"
        )
        cls.supplier = Company.objects.create(
            name="ACME", description="Fasteners & more", is_supplier=True
        )
        cls.customer = Company.objects.create(name="Bolt Corp", is_customer=True)

    def setUp(self):
        super().setUp()
        readiness.forget()
        registry.set_plugin_state("notify-plus", True)
        for key in ("NOTIFICATIONS_ENABLE", "NOTIFICATIONS_OTHER", "EMAIL_ENABLE"):
            self.plugin.set_setting(key, True)

    # -- helpers --------------------------------------------------------------------------

    def part(self, name: str, **fields: Any) -> Part:
        """A part alice subscribes to."""
        part = Part.objects.create(name=name, category=self.category, **fields)
        PartStar.objects.create(part=part, user=self.alice)
        return part

    def queued_notice(self, category: str) -> Notice:
        """The notice Notify Plus queued for alice's email in this category (exactly one)."""
        rows = Delivery.objects.filter(
            category=category, channel="email", destination=f"email:user:{self.alice.pk}"
        )
        self.assertEqual(rows.count(), 1, f"one email to alice for {category}")
        return Notice.from_dict(rows.get().notice)

    def ours(self, notices: list[Notice]) -> dict:
        destination = Destination(
            "email", f"email:user:{self.alice.pk}", self.alice.email, "alice", "Alice"
        )
        return EmailChannel(render_context()).render(destination, notices)

    def compare(self, captured: list[Rendered], template: str, category: str) -> Notice:
        """InvenTree's email for ``template`` against ours for ``category``, fact by fact."""
        theirs = [r for r in captured if r.template == template]
        self.assertEqual(len(theirs), 1, f"InvenTree rendered {template} once")
        inventree = theirs[0]
        notice = self.queued_notice(category)
        other = low_stock_notice("Other part", 9)
        for notices in ([notice], [other, notice]):  # alone, and inside a digest
            self.assert_carries(inventree, notice, self.ours(notices))
        return notice

    def assert_carries(self, inventree: Rendered, notice: Notice, message: dict) -> None:
        mail = _Mail(message["html"])
        text = haystack(message["text"])
        html_text = haystack("\n".join(mail.texts + mail.links))
        values = {fact(v) for v in inventree.values} - {""}
        if notice.category in OWN_SUMMARY:
            values.discard(fact(inventree.message))
        self.assertTrue(values, "InvenTree's email printed values")
        for value in sorted(values):
            self.assertTrue(shows(value, text), f"plain text lacks {value!r}:\n{text}")
            self.assertTrue(shows(value, html_text), f"HTML lacks {value!r}:\n{html_text}")
        our_rows = _Mail(message["html"]).rows
        rows = body_rows(inventree.html)
        self.assertTrue(rows, "InvenTree's email has a table body")
        for row in rows:
            cells = [fact(t) for t in row.texts if fact(t)]
            for cell in cells:
                self.assertTrue(shows(cell, text), f"plain text lacks {cell!r}")
                self.assertTrue(shows(cell, html_text), f"HTML lacks {cell!r}")
            for link in row.links:
                mine = [r for r in our_rows if link in r.links]
                self.assertEqual(len(mine), 1, f"one row of ours links {link}")
                row_text = haystack(" ".join(mine[0].texts))
                for cell in cells:
                    self.assertTrue(shows(cell, row_text), f"our row for {link} lacks {cell!r}")
        for link in _Mail(inventree.html).links:
            if link and not link.startswith(DOCS):
                self.assertIn(link, mail.links, f"HTML lacks the link {link}")
                self.assertIn(link, message["text"], f"plain text lacks the link {link}")

    # -- the categories -------------------------------------------------------------------

    def test_stale_stock(self):
        import InvenTree.helpers
        from common.settings import set_global_setting
        from part.tasks import check_stale_stock
        from stock.models import StockItem

        set_global_setting("STOCK_ENABLE_EXPIRY", True)
        set_global_setting("STOCK_STALE_DAYS", 10)
        today = InvenTree.helpers.current_date()  # the day InvenTree's check counts from
        screw = self.part("M3 screw <steel> & co", units="pcs", trackable=True)
        glue = self.part("Epoxy glue")
        StockItem.objects.create(
            part=screw, quantity=1, serial="SN-17", location=self.shelf, expiry_date=today
        )
        StockItem.objects.create(
            part=glue,
            quantity=Decimal("2.5"),
            batch="B-2026-07",
            location=self.cold,
            expiry_date=today - timedelta(days=3),
        )
        StockItem.objects.create(part=glue, quantity=40, expiry_date=today + timedelta(days=5))
        StockItem.objects.create(part=glue, quantity=1, expiry_date=today + timedelta(days=30))
        with inventree_emails() as captured:
            check_stale_stock()
        notice = self.compare(
            captured, "email/stale_stock_notification.html", "stock.notify_stale_stock"
        )
        self.assertEqual(len(notice.lines), 3)  # the one expiring in 30 days is not stale
        self.assertEqual(
            [f.label for f in notice.lines[0].facts],
            ["Location", "Quantity", "Batch", "Serial Number", "Expiry Date", "Days Until Expiry"],
        )

    def test_low_stock(self):
        from order.models import SalesOrder, SalesOrderAllocation, SalesOrderLineItem
        from part.tasks import notify_low_stock
        from stock.models import StockItem

        part = self.part("Hex nut M4", minimum_stock=100, IPN="NUT-4", salable=True)
        item = StockItem.objects.create(part=part, quantity=12, location=self.shelf)
        # 3 of the 12 promised to a customer: InvenTree's email shows total 12, available 9
        order = SalesOrder.objects.create(reference="SO-0102", customer=self.customer)
        line = SalesOrderLineItem.objects.create(order=order, part=part, quantity=3)
        SalesOrderAllocation.objects.create(line=line, item=item, quantity=3)
        self.assertEqual((part.total_stock, part.available_stock), (12, 9))
        with inventree_emails() as captured:
            notify_low_stock(part)
        self.compare(captured, "email/low_stock_notification.html", "part.notify_low_stock")

    def test_build_order_shortfall(self):
        from build.models import Build
        from build.tasks import check_build_stock
        from part.models import BomItem
        from stock.models import StockItem

        widget = self.part("Widget", assembly=True)
        resistor = self.part("Resistor 10k", component=True, description="0402 & 1%")
        washer = self.part("Washer M3", component=True)
        for part in (widget, resistor, washer):
            part.refresh_from_db()  # InvenTree rebuilt the part tree meanwhile (new tree ids)
        BomItem.objects.create(part=widget, sub_part=resistor, quantity=Decimal("2.5"))
        BomItem.objects.create(part=widget, sub_part=washer, quantity=4)
        StockItem.objects.create(part=washer, quantity=7, location=self.shelf)
        build = Build.objects.create(part=widget, quantity=5, reference="BO-0101", title="x")
        with inventree_emails() as captured:
            check_build_stock(build)
        notice = self.compare(
            captured, "email/build_order_required_stock.html", "build.stock_required"
        )
        self.assertEqual(len(notice.lines), 2)

    def test_build_completed(self):
        from build.models import Build
        from build.tasks import complete_build

        widget = self.part("Gearbox", assembly=True)
        build = Build.objects.create(part=widget, quantity=3, reference="BO-0102", title="x")
        with inventree_emails() as captured:
            complete_build(build.pk, self.user.pk)
        self.compare(captured, "email/build_order_completed.html", "build.completed")

    def test_purchase_order_items_received(self):
        from company.models import SupplierPart
        from order.models import PurchaseOrder, PurchaseOrderLineItem

        part = self.part("Spring 5mm", purchaseable=True)
        supplier_part = SupplierPart.objects.create(part=part, supplier=self.supplier, SKU="SP-5")
        order = PurchaseOrder.objects.create(reference="PO-0101", supplier=self.supplier)
        line = PurchaseOrderLineItem.objects.create(order=order, part=supplier_part, quantity=10)
        order.place_order()
        with inventree_emails() as captured:
            order.receive_line_item(line, self.shelf, 10, self.user)
        self.compare(
            captured, "email/purchase_order_received.html", "purchase_order.items_received"
        )

    def test_return_order_items_received(self):
        from order.models import ReturnOrder, ReturnOrderLineItem
        from stock.models import StockItem

        part = self.part("Motor", trackable=True)
        item = StockItem.objects.create(part=part, quantity=1, serial="M-9", customer=self.customer)
        order = ReturnOrder.objects.create(reference="RMA-0101", customer=self.customer)
        line = ReturnOrderLineItem.objects.create(order=order, item=item)
        with inventree_emails() as captured:
            order.receive_line_item(line, self.shelf, self.user)
        self.compare(captured, "email/return_order_received.html", "return_order.items_received")

    def test_overdue_purchase_order(self):
        from order.models import PurchaseOrder
        from order.status_codes import PurchaseOrderStatus
        from order.tasks import check_overdue_purchase_orders

        PurchaseOrder.objects.create(
            reference="PO-0102",
            supplier=self.supplier,
            created_by=self.alice,
            target_date=_yesterday(),
            status=PurchaseOrderStatus.PLACED.value,
        )
        with inventree_emails() as captured:
            check_overdue_purchase_orders()
        self.compare(captured, "email/overdue_purchase_order.html", "order.overdue_purchase_order")

    def test_overdue_sales_order(self):
        from order.models import SalesOrder
        from order.tasks import check_overdue_sales_orders

        SalesOrder.objects.create(
            reference="SO-0101",
            customer=self.customer,
            created_by=self.alice,
            target_date=_yesterday(),
        )
        with inventree_emails() as captured:
            check_overdue_sales_orders()
        self.compare(captured, "email/overdue_sales_order.html", "order.overdue_sales_order")

    def test_overdue_return_order(self):
        # InvenTree raises it under the sales order's category (order.tasks, SalesOrderEvents)
        from order.models import ReturnOrder
        from order.tasks import check_overdue_return_orders

        ReturnOrder.objects.create(
            reference="RMA-0102",
            customer=self.customer,
            created_by=self.alice,
            target_date=_yesterday(),
        )
        with inventree_emails() as captured:
            check_overdue_return_orders()
        notice = self.compare(
            captured, "email/overdue_return_order.html", "order.overdue_sales_order"
        )
        self.assertEqual(notice.title, "Overdue Return Order: RMA-0102")

    def test_overdue_build_order(self):
        from build.models import Build
        from build.tasks import check_overdue_build_orders

        widget = self.part("Pump", assembly=True)
        Build.objects.create(
            part=widget,
            quantity=2,
            reference="BO-0103",
            title="x",
            issued_by=self.alice,
            target_date=_yesterday(),
        )
        with inventree_emails() as captured:
            check_overdue_build_orders()
        self.compare(captured, "email/overdue_build_order.html", "build.overdue_build_order")

    def test_a_future_category_with_a_template(self):
        """A category Notify Plus has no builder for keeps name, message, link and part facts."""
        from common.notifications import trigger_notification
        from InvenTree.helpers_model import construct_absolute_url
        from stock.models import StockItem

        part = self.part("Bearing 608", minimum_stock=3)
        StockItem.objects.create(part=part, quantity=8, location=self.shelf)
        context = {
            "part": part,
            "name": "Part reviewed",
            "message": "Bearing 608 was reviewed & approved",
            "link": construct_absolute_url(part.get_absolute_url()),
            "template": {"html": "email/part_event_notification.html", "subject": "Reviewed"},
        }
        with inventree_emails() as captured:
            trigger_notification(part, "part.reviewed", targets=[self.alice], context=context)
        notice = self.compare(captured, "email/part_event_notification.html", "part.reviewed")
        self.assertEqual((notice.title, notice.link), (context["name"], context["link"]))


def _yesterday() -> date:
    """What InvenTree's overdue checks look for (``datetime.now().date() - 1 day``)."""
    from datetime import datetime

    return datetime.now().date() - timedelta(days=1)
