"""Ring 4 runs beside a live InvenTree, without pytest-django: no Django settings here."""

import pytest


@pytest.fixture(autouse=True)
def real_smtp_backend():
    """Overrides ring 1's fixture: this process sends no mail itself."""
