"""Routing: which destinations receive a notice, and when (one concept per module).

- ``plan``: the decision: a notice, its recipients and the configuration in, one
  ``PlannedDelivery`` per destination out (webhook targets by route, email due times);
- ``config``: destinations, routes and recipients, and the parsing and validation of what the
  admin writes (strict on save, lenient for sending);
- ``configured``: that configuration read from the plugin's settings;
- ``quiet_hours``: quiet hours and time zones.

Plain Django, no InvenTree: the category list comes from ``notice_categories``.
"""
