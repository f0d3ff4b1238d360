"""Ring 4 runs beside a live InvenTree, without pytest-django: no Django settings here."""

import pytest


@pytest.fixture(autouse=True)
def real_smtp_backend():
    """Overrides ring 1's fixture: this process sends no mail itself."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for the failure screenshots."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
