"""Local stand-ins and tools for tests, the demo, the benchmark and the fault-injection run.

Everything here listens on 127.0.0.1 only; nothing reaches Slack, Discord or a mail server.
"""
