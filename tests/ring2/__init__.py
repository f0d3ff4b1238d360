"""Ring 2: inside a real InvenTree (its test runner). Loopback only, as every ring."""

from tests.support.loopback_only import install

install()
