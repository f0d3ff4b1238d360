"""InvenTree 1.5's notification categories, as data: the one list routes, the editor and preview use.

Read from InvenTree's source (1.5.0-dev): every ``trigger_notification`` caller's category, and
the slugs ``notify_responsible`` builds as ``<app>.new_<model>`` / ``<app>.canceled_<model>``
for each order model. Kept in one place so a route naming a category that does not exist
(``part.notify_low_stok``) is refused on save instead of making a dead route. A category
InvenTree's notification log shows it has sent (another plugin's own) is accepted too; reading
that log is InvenTree's side (``inventree.categories``). Plain data: routing reads it without
InvenTree.
"""

from __future__ import annotations

from collections.abc import Iterable

# The categories Notify Plus builds its own notices for, or acts on by name.
LOW_STOCK = "part.notify_low_stock"
BUILD_SHORTFALL = "build.stock_required"
RECOVERED = "notify_plus.low_stock_recovered"
STALE_STOCK = "stock.notify_stale_stock"

# Categories that reach notification plugins (Notify Plus among them), value -> label.
CATEGORIES: dict[str, str] = {
    LOW_STOCK: "Low stock",
    RECOVERED: "Stock recovered (Notify Plus)",
    STALE_STOCK: "Stale stock (expiry near)",
    BUILD_SHORTFALL: "Build order: stock required",
    "build.new_build": "New build order",
    "build.canceled_build": "Build order cancelled",
    "build.completed": "Build order completed",
    "build.overdue_build_order": "Overdue build order",
    "order.new_purchaseorder": "New purchase order",
    "order.canceled_purchaseorder": "Purchase order cancelled",
    "order.overdue_purchase_order": "Overdue purchase order",
    "purchase_order.items_received": "Items received (purchase order)",
    "order.new_salesorder": "New sales order",
    "order.canceled_salesorder": "Sales order cancelled",
    "order.overdue_sales_order": "Overdue sales or return order",
    "order.new_returnorder": "New return order",
    "order.canceled_returnorder": "Return order cancelled",
    "return_order.items_received": "Items received (return order)",
    "order.new_transferorder": "New transfer order",
    "order.canceled_transferorder": "Transfer order cancelled",
    "part.notification": "Part changed (InvenTree's Part Notifications plugin)",
}

# Categories InvenTree sends to its bell only (``delivery_methods={InvenTreeUINotifications}``):
# no notification plugin ever receives them, so a route naming one would never match.
UI_ONLY: dict[str, str] = {
    "inventree.error_log": "Server error logged",
    "update_available": "InvenTree update available",
    "label.printing_failed": "Label printing failed",
}


def accepted(seen: Iterable[str] = ()) -> frozenset[str]:
    """The categories a route may name: the known ones and any InvenTree has actually sent.

    ``seen`` holds categories from InvenTree's notification log, so a category another plugin
    sends is accepted once it has been sent (the bell-only ones stay refused).
    """
    extra = {str(c) for c in seen if c} - set(UI_ONLY)
    return frozenset(CATEGORIES) | frozenset(extra)
