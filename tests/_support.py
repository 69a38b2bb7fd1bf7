"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def bare_environment(**settings: str) -> dict[str, str]:
    """A near-empty environment for a command under test, and what coverage needs to follow it.

    The command sees no ``AICORE_*`` or home settings of the machine running the tests; only
    ``COVERAGE_*`` passes through, so that ``coverage run`` measures the subprocess too.
    """
    kept = {name: value for name, value in os.environ.items() if name.startswith("COVERAGE_")}
    return {"PATH": "/usr/bin:/bin", **kept, **settings}


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``directory`` as a user's project would: its own config, warnings as errors.

    The suite's own settings (``pyproject.toml``, ``conftest.py``) do not reach it.
    """
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *args],
        cwd=directory,
        env=bare_environment(HOME=str(directory)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
