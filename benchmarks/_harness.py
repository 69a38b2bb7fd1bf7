"""Shared pieces of the benchmarks: servers in their own processes, and result tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def simulator_process(*args: str) -> contextlib.AbstractAsyncContextManager[dict[str, str]]:
    """Run ``aicore-bulk simulate`` in its own process (its own core), yield its settings."""
    return server_process(sys.executable, "-m", "aicore_bulk", "simulate", "--port", "0", *args)


@contextlib.asynccontextmanager
async def server_process(*argv: str) -> AsyncIterator[dict[str, str]]:
    """Run a server that announces itself as ``aicore-bulk simulate`` does; yield its settings.

    The settings are ``url`` and the ``export AICORE_*`` lines it printed. SIGTERM stops it.
    """
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    if process.stdout is None:  # pragma: no cover - PIPE always gives a stream
        raise RuntimeError("no stdout")
    settings: dict[str, str] = {}
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), timeout=300)).decode()
            if not line:
                stderr = await process.stderr.read() if process.stderr else b""
                raise RuntimeError(f"server did not start: {stderr.decode()}")
            if " listening on " in line:
                settings["url"] = line.rsplit(" ", 1)[1].strip()
            elif line.strip().startswith("export AICORE_"):
                name, _, value = shlex.split(line)[1].partition("=")
                settings[name] = value
            elif line.startswith("Press Ctrl-C"):
                break
        yield settings
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), timeout=60)


def machine() -> str:
    """One line that says what ran the benchmark."""
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def save(name: str, payload: dict[str, object]) -> Path:
    """Write a benchmark's figures as JSON under benchmarks/results/."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
