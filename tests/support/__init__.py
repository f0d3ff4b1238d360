"""Helpers the tests use, not tests: ``pg_worker`` (one worker process of the PostgreSQL tests)
and ``live`` (what the tests against a live InvenTree, rings 3 and 4, share)."""
