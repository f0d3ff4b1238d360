"""Notify Plus: InvenTree notifications by email (one per person, with consent), Slack and Discord.

The flow of one notice, and where each step lives (docs/architecture.md draws it):

- ``inventree/``: the InvenTree edge. ``intake`` takes each notification InvenTree triggers,
  ``notices`` turns it into a channel-neutral Notice (``notice.py``), ``recipients`` and
  ``subscribers`` say who receives it, ``consent`` who is emailed, ``episodes`` and ``recovery``
  announce a low-stock condition once and its end; ``core_email_guard`` keeps InvenTree's own
  email method out of the way, ``plugin_state`` sees activation and the switches that stop email,
  ``events`` and ``scheduled`` are what InvenTree's events and scheduler run.
- ``routing/`` decides the destinations and when (``plan``; ``config``: destinations, routes and
  their parsing; ``configured``: from the settings; ``quiet_hours``); ``notice_categories``
  lists InvenTree's categories as data.
- ``outbox/`` stores a row per delivery (``store``) and a ``Dispatcher`` in InvenTree's worker
  drains them (``dispatcher``, ``batches``, ``sending``): claims and leases (``claims``), pacing
  (``pacing``), retries (``retry``), all on the database's clock (``clock``); ``destinations``
  resolves each destination at send time and a channel renders and sends it (``channels/``);
  the rows are the delivery log (``models.py``, ``report``).
- ``tasks.py`` holds the worker's task entry points (the dotted paths django-q2 stores);
  ``inventree/wakeup`` says when a drain runs, ``inventree/worker_dispatcher`` configures it.
- ``web/``: InvenTree's web UI: the panels, the admin's endpoints apart from each user's own.
- ``plugin.py`` is the InvenTree plugin, declarations (``settings.py``) and hooks only.

InvenTree itself is imported only at the edge (``inventree/``, ``web/``, ``plugin.py``,
``settings.py``, ``tasks.py``), mostly inside functions, so the rest is tested on every CI run
without an InvenTree (``tests/test_layout.py`` keeps it so, with no import cycles).
"""

__version__ = "2.1.0"
