"""Notify Plus: InvenTree notifications by email, Slack and Discord.

The flow of a notification, one module per stage:

    notice.py        what happened (channel-neutral), built by inventree_notices.py
    routing.py       which destinations receive it
    outbox.py        a durable row per delivery, claimed and retried by the dispatcher
    channels/        render and send one destination's message (email, Slack, Discord)
    models.py        the outbox rows, which are also the delivery log

Only plugin.py, inventree_notices.py, subscribers.py and api.py import InvenTree; the rest is
plain Django so it is tested on every CI run without an InvenTree.
"""

__version__ = "1.0.0"
