"""Run the outbox outside InvenTree: plain Django on a SQLite file, loopback destinations.

Used by the fault-injection and burst-benchmark scripts (``scripts/``); nothing here is
imported by the plugin.
"""

from __future__ import annotations

from ..channels.base import Destination, Skip


def database(db_path: str, url: str = "") -> dict:
    """Django's database settings: PostgreSQL from a URL, else a SQLite file at ``db_path``.

    The URL reads ``postgresql://user:password@host:port/name``.
    """
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": db_path,
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    from urllib.parse import unquote, urlparse

    parts = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }


def setup_django(
    db_path: str, smtp_port: int, database_url: str = "", migrate: bool = True
) -> None:
    """Configure Django standalone and migrate.

    SQLite file at ``db_path`` or PostgreSQL at ``database_url``; SMTP on loopback.
    """
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        SECRET_KEY="notify-plus-devtools",  # noqa: S106 - local loopback runs only
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "inventree_notify_plus",
        ],
        DATABASES={"default": database(db_path, database_url)},
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_port,
        DEFAULT_FROM_EMAIL="inventree@example.com",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)


class StaticDirectory:
    """Destinations by outbox key (``slack:default``, ``email:user:3``), fixed in advance."""

    def __init__(self, destinations: dict[str, Destination | Skip] | None = None) -> None:
        self.destinations: dict[str, Destination | Skip] = dict(destinations or {})
        self.deleted: set[str] = set()

    def add(self, destination: Destination) -> StaticDirectory:
        """Register ``destination`` under its key."""
        self.destinations[destination.key] = destination
        return self

    def resolve(self, key: str) -> Destination | Skip:
        """The destination stored for ``key``."""
        return self.destinations.get(key, Skip(f"unknown destination '{key}'"))

    def target_exists(self, object_ref: str) -> bool:
        """Every object exists unless marked deleted."""
        return object_ref not in self.deleted

    def existing(self, object_refs: set[str]) -> set[str]:
        """The references not marked deleted."""
        return set(object_refs) - self.deleted
