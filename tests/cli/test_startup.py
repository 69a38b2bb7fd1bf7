"""Start-up stays light: what a command does not need is not imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests._support import bare_environment

#: What ``--version`` and ``--help`` have no use for: HTTP, the event loop, SQLite, the simulator.
HEAVY = ("aiohttp", "asyncio", "sqlite3", "backoff", "anyio", "aicore_bulk._simulator")

#: Runs the command line in-process, then prints which of HEAVY it imported (coverage, when
#: it measures the subprocess, has imported sqlite3 before: that one is not the command's).
PROBE = """
import json, sys
before = set(sys.modules)
from aicore_bulk._cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(set(heavy) & set(sys.modules) - before)), file=sys.stderr)
"""


def loaded_by(*code_and_args: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has imported after running the code."""
    done = subprocess.run(
        [sys.executable, "-c", *code_and_args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=bare_environment(),
    )
    return json.loads(done.stderr.splitlines()[-1])


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["delete", "--help"]])
def test_version_and_help_import_neither_http_nor_the_journal(args):
    """``--version`` and ``--help`` answer without importing aiohttp, asyncio or SQLite."""
    assert loaded_by(PROBE.format(heavy=HEAVY), *args) == []


def test_importing_the_package_imports_a_public_name_only_when_it_is_used():
    """``import aicore_bulk`` is light; the first use of ``BulkClient`` imports the client."""
    code = f"""
import json, sys
already = set(sys.modules)
import aicore_bulk
before = sorted(set({HEAVY!r}) & set(sys.modules) - already)
client = aicore_bulk.BulkClient
after = sorted(set({HEAVY!r}) & set(sys.modules) - already)
assert client is sys.modules["aicore_bulk._client"].BulkClient
assert "BulkClient" in dir(aicore_bulk)
print(json.dumps([before, after]), file=sys.stderr)
"""
    before, after = loaded_by(code)
    assert before == []
    assert "aiohttp" in after


def test_an_unknown_name_is_an_attribute_error():
    """A name the package does not export raises AttributeError, as for any module."""
    import aicore_bulk  # noqa: PLC0415 - the package under test

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = aicore_bulk.Nope  # type: ignore[attr-defined]
