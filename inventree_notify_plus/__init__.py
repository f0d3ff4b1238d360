"""Notify Plus: InvenTree notifications by email (one per person, with consent), Slack and Discord.

An InvenTree notification becomes a channel-neutral notice (``notice.py``), routing decides its
destinations (``routing.py``), the outbox stores a row per delivery and a dispatcher in InvenTree's
worker claims, paces and retries them (``outbox.py``, ``models.py``: the rows are the delivery log),
and a channel renders and sends each message (``channels/``). ``plugin.py`` is the InvenTree plugin;
the modules that talk to InvenTree import it inside functions, so the rest is tested on every CI
run without an InvenTree. The flow of one notice through every module: docs/architecture.md.
"""

__version__ = "2.0.0"
