"""Notify Plus in InvenTree's web UI: the panels it offers, and the endpoints behind them.

Admin endpoints (``admin_api``, ``admin_setup_api``) and each user's own (``user_api``) are
separate modules; ``urls`` lists them all. InvenTree's REST framework is imported only by the
endpoint modules, which the plugin loads when InvenTree sets up its URLs.
"""
