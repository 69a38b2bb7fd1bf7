"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os


def bare_environment(**settings: str) -> dict[str, str]:
    """A near-empty environment for a command under test, and what coverage needs to follow it.

    The command sees no ``AICORE_*`` or home settings of the machine running the tests; only
    ``COVERAGE_*`` passes through, so that ``coverage run`` measures the subprocess too.
    """
    kept = {name: value for name, value in os.environ.items() if name.startswith("COVERAGE_")}
    return {"PATH": "/usr/bin:/bin", **kept, **settings}
