"""Whether Notify Plus can hold deliveries: its app is installed and its migrations applied.

An admin who activates the plugin from InvenTree's plugin manager without
``INVENTREE_AUTO_UPDATE`` gets the plugin active and its tables missing (InvenTree 1.5's
``manage.py migrate`` does not load plugin apps). Notify Plus must then keep its hands off
email and say what to do, instead of failing every notification with a database error.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass

from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.migrations.recorder import MigrationRecorder

APP_LABEL = "inventree_notify_plus"

# The command that applies a plugin's migrations on InvenTree 1.5 (what InvenTree itself runs
# on plugin activation when INVENTREE_AUTO_UPDATE is on), checked on a fresh database.
MIGRATE_COMMAND = (
    'python manage.py shell -c "from InvenTree.tasks import check_for_migrations as c; '
    'c(force=True)"'
)


@dataclass(frozen=True)
class Readiness:
    """The plugin's database state, with what an admin should do about it."""

    app_installed: bool
    pending: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Deliveries can be written durably."""
        return self.app_installed and not self.pending

    def problems(self) -> list[str]:
        """What is wrong, what it costs, and the fix; empty when ready."""
        if not self.app_installed:
            return [
                "app integration is off: Notify Plus has no outbox, so InvenTree's own email "
                "reaches everyone and Slack/Discord are sent best effort, without retries or a "
                "delivery log (Settings > Plugins > Enable app integration)"
            ]
        if self.pending:
            return [
                f"database migrations not applied ({', '.join(self.pending)}): until they are, "
                "InvenTree's own email reaches everyone and Slack/Discord are sent best effort. "
                f"Apply them from InvenTree's backend folder: {MIGRATE_COMMAND} "
                "(or set INVENTREE_AUTO_UPDATE=True and activate the plugin again), then restart "
                "the server and the worker"
            ]
        return []


def migration_names() -> tuple[str, ...]:
    """The migrations this package ships, by name."""
    from .. import migrations

    return tuple(
        sorted(m.name for m in pkgutil.iter_modules(migrations.__path__) if m.name[:4].isdigit())
    )


_ready_seen = False


def check() -> Readiness:
    """The current state; once ready, remembered for the life of the process (no query).

    Migrations only appear, never vanish, while a process runs: a new version with new
    migrations comes with a restart.
    """
    global _ready_seen
    if _ready_seen:
        return Readiness(app_installed=True)
    if not apps.is_installed(APP_LABEL):
        return Readiness(app_installed=False)
    try:
        # its own savepoint: on PostgreSQL a failed read would abort the caller's transaction
        with transaction.atomic():
            applied = MigrationRecorder(connection).applied_migrations()
    except DatabaseError:
        applied = {}
    pending = tuple(n for n in migration_names() if (APP_LABEL, n) not in applied)
    state = Readiness(app_installed=True, pending=pending)
    _ready_seen = state.ready
    return state


def forget() -> None:
    """Check again next time (tests that drop or restore the tables)."""
    global _ready_seen
    _ready_seen = False
