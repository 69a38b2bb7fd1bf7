"""``aicore-bulk simulate`` and ``aicore-bulk demo`` as users run them: as processes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aiohttp
import pytest

from tests._support import bare_environment

CLI = [sys.executable, "-m", "aicore_bulk"]


async def start_simulator(*args):
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "simulate",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lines = []
    while not lines or lines[-1] != "Press Ctrl-C to stop.":
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, (await process.stderr.read()).decode()
        lines.append(line.decode().rstrip("\n"))
    return process, lines


async def test_simulate_serves_seeds_and_stops_on_sigterm():
    """The server prints its URL and credentials, serves seeded items, and exits 0 on SIGTERM."""
    process, lines = await start_simulator(
        "--seed-executions", "30", "--seed-deployments", "4", "--status-mix", "DEAD=1"
    )
    try:
        url = lines[0].rsplit(" ", 1)[1]
        env = dict(line.strip().split("=", 1) for line in lines if line.startswith("  AICORE_"))
        async with aiohttp.ClientSession() as session:
            async with session.post(
                env["AICORE_AUTH_URL"],
                data={
                    "grant_type": "client_credentials",
                    "client_id": env["AICORE_CLIENT_ID"],
                    "client_secret": env["AICORE_CLIENT_SECRET"],
                },
            ) as response:
                token = (await response.json())["access_token"]
            async with session.get(
                f"{url}/v2/lm/executions/$count",
                headers={"Authorization": f"Bearer {token}", "AI-Resource-Group": "default"},
            ) as response:
                count = await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), timeout=30)

    assert lines[0].startswith("aicore-bulk simulator listening on http://127.0.0.1:")
    assert "resource group default: 30 executions, 4 deployments" in lines
    assert count == "30"
    assert process.returncode == 0
    assert out.decode().strip() == "aicore-bulk simulator stopped."


async def test_simulate_stops_cleanly_on_ctrl_c():
    """SIGINT (Ctrl-C) stops the server with exit code 0 as well."""
    process, _ = await start_simulator()
    process.send_signal(signal.SIGINT)
    await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "is not a port"),
        (["--server-errors", "2"], "not a probability"),
        (["--status-mix", "DELETING=1"], "is not STATUS=WEIGHT"),
        (["--rate-limit", "0"], "is not a number > 0"),
    ],
    ids=["port", "probability", "mix", "rate-limit"],
)
def test_simulate_refuses_bad_options(args, message):
    """Bad knobs exit 2 with a message naming the problem, before serving."""
    result = subprocess.run(
        [*CLI, "simulate", *args], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 2
    assert message in result.stderr


def test_demo_cleans_up_the_embedded_simulator():
    """The main job runs without any AI Core account and leaves nothing behind."""
    result = subprocess.run(
        [*CLI, "demo", "--items", "2000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=bare_environment(),
    )

    assert result.returncode == 0, result.stderr
    assert "executions     2,000" in result.stdout
    assert "deleted             2,000" in result.stdout
    assert "0 executions and 0 deployments left; 0 contract violations" in result.stdout
