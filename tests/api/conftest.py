"""Fixtures of the load-job tests."""

from tests.loads_support import api, big_root, root

__all__ = ["api", "big_root", "root"]
