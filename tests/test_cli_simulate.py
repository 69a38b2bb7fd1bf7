"""``aicore-bulk simulate`` and ``aicore-bulk demo`` as users run them: as processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import shutil
import signal
import subprocess
import sys

import aiohttp
import pytest

from aicore_bulk._cli._args import build_parser
from aicore_bulk._cli._simulate import export_lines
from aicore_bulk.testing import DEFAULT_MIX
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


def exported(lines):
    """The settings of ``export NAME=value`` lines, read as a POSIX shell reads them."""
    return dict(shlex.split(line)[1].split("=", 1) for line in lines)


async def test_simulate_serves_seeds_and_stops_on_sigterm():
    """The server prints its URL and credentials, serves seeded items, and exits 0 on SIGTERM."""
    process, lines = await start_simulator(
        "--seed-executions", "30", "--seed-deployments", "4", "--status-mix", "DEAD=1"
    )
    try:
        url = lines[0].rsplit(" ", 1)[1]
        env = exported([line for line in lines if line.startswith("  export AICORE_")])
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


def test_simulate_help_shows_every_default():
    """The simulate command's --help explains every flag and shows every default there is."""
    result = subprocess.run(
        [*CLI, "simulate", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    (simulate,) = (
        parser
        for action in build_parser()._subparsers._group_actions
        for name, parser in action.choices.items()
        if name == "simulate"
    )

    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for shown in ("--host HOST address to listen on (default: 127.0.0.1)", "(default: 8080)"):
        assert shown in text
    for status, weight in DEFAULT_MIX.items():
        assert f"{weight:.0%} {status}" in text
    for action in simulate._actions:
        assert action.help, action.option_strings
        if action.default not in (None, False, [], "==SUPPRESS=="):
            assert "default" in action.help, action.option_strings


@contextlib.asynccontextmanager
async def print_env_simulator(*args):
    """``simulate --print-env`` on a free port: its process, and the stdout it printed.

    The whole stdout is read to its end while the server runs on; SIGTERM stops it.
    """
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "simulate",
        "--port",
        "0",
        "--print-env",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=bare_environment(),
    )
    try:
        out = await asyncio.wait_for(process.stdout.read(), timeout=60)
        yield process, out.decode()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)


async def run_cli(env, *args):
    """Run ``aicore-bulk`` with these settings; its exit code and its JSON on stdout."""
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, env=bare_environment(**env)
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode, json.loads(out)


async def test_print_env_prints_only_export_lines_then_serves_on():
    """--print-env prints the settings as export lines, closes stdout, and keeps serving."""
    async with print_env_simulator("--seed-executions", "30", "--status-mix", "DEAD=1") as (
        process,
        out,
    ):
        running = process.returncode is None
        env = exported(out.splitlines())
        _, plan = await run_cli(env, "plan", "delete", "executions", "--all", "-o", "json", "-q")
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)

    assert running
    assert all(line.startswith("export AICORE_") for line in out.splitlines())
    assert sorted(env) == [
        "AICORE_AUTH_URL",
        "AICORE_BASE_URL",
        "AICORE_CLIENT_ID",
        "AICORE_CLIENT_SECRET",
        "AICORE_RESOURCE_GROUP",
    ]
    assert plan["summary"]["paths"]["delete"] == 30
    assert f"stop it with: kill {process.pid}" in err.decode()
    assert process.returncode == 0


async def test_the_readme_older_than_cleanup_selects_part_of_a_seeded_tenant(tmp_path):
    """On the tenant the docs seed, the README's --older-than 30d commands select old items only."""
    finished = ("--status", "COMPLETED", "--status", "DEAD")
    old = (*finished, "--older-than", "30d")
    # Seeded as docs/simulator.md does; deleted items are not listed on (no --delete-linger).
    seeded = ("--seed-executions", "10000", "--seed-deployments", "20", "--delete-linger", "0")
    async with print_env_simulator(*seeded) as (_, out):
        env = exported(out.splitlines())
        _, every = await run_cli(env, "plan", "delete", "executions", *finished, "-o", "json", "-q")
        _, planned = await run_cli(env, "plan", "delete", "executions", *old, "-o", "json", "-q")
        report_path = tmp_path / "cleanup.json"
        code, report = await run_cli(
            env,
            "delete",
            "executions",
            *old,
            "--max-items",
            "5000",
            "--output",
            "json",
            "--report",
            str(report_path),
            "--no-progress",
        )
        _, left = await run_cli(env, "plan", "delete", "executions", *finished, "-o", "json", "-q")

    total, selected = every["summary"]["total"], planned["summary"]["total"]
    assert 0 < selected < total
    assert {item["status"] for item in planned["items"]} == {"COMPLETED", "DEAD"}
    assert code == 0
    assert report["summary"]["outcomes"]["deleted"] == selected
    assert json.loads(report_path.read_text()) == report
    assert left["summary"]["total"] == total - selected  # the younger ones are still there


def test_export_lines_survive_a_shell():
    """Every value comes back from the shell as it was, whatever characters it holds."""
    settings = {"AICORE_RESOURCE_GROUP": "it's $HOME; `x`", "AICORE_CLIENT_ID": "a b"}
    script = "\n".join(export_lines(settings))

    result = subprocess.run(
        ["/bin/sh", "-c", f'{script}\nprintf "%s|%s" "$AICORE_RESOURCE_GROUP" "$AICORE_CLIENT_ID"'],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert result.stdout == "it's $HOME; `x`|a b"


BASH = shutil.which("bash")


@pytest.mark.skipif(BASH is None, reason="the documented script is for bash")
def test_the_documented_print_env_script_runs(tmp_path):
    """docs/simulator.md's script starts the server, takes its settings, cleans up, stops it."""
    script = f"""
    set -e
    coproc SIM {{ exec {shlex.join(CLI)} simulate --print-env --port 0 \\
        --seed-executions 40 --status-mix DEAD=1; }}
    eval "$(cat <&"${{SIM[0]}}")"
    {shlex.join(CLI)} delete executions --all --no-progress -q
    kill "$SIM_PID"
    wait "$SIM_PID"
    echo "server exited $?"
    """
    result = subprocess.run(
        [BASH, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=bare_environment(HOME=str(tmp_path)),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "server exited 0\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "is not a port"),
        (["--server-errors", "2"], "not a probability"),
        (["--status-mix", "DELETING=1"], "is not STATUS=WEIGHT"),
        (["--rate-limit", "0"], "is not a number > 0"),
        (["--resource-group", "ml-a:team=ml"], "must look like ext.ai.sap.com/NAME"),
        (["--resource-group", "ml-a:ext.ai.sap.com/team"], "is not a label KEY=VALUE"),
        (["--resource-group", "a_b"], "resource group ID 'a_b' must be 3 to 253"),
        (
            ["--resource-group", "ml-a:ext.ai.sap.com/t=1,ext.ai.sap.com/t=2"],
            "label ext.ai.sap.com/t is given twice",
        ),
        (["--resource-group", "ml-a", "--resource-group", "ml-a"], "ml-a is given twice"),
    ],
    ids=[
        "port",
        "probability",
        "mix",
        "rate-limit",
        "label-key",
        "label-without-value",
        "group-id",
        "label-twice",
        "group-twice",
    ],
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


async def _admin_listing(env, url, params=None):
    """Status and body of GET /v2/admin/resourceGroups with a token for ``env``'s client."""
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
            f"{url}/v2/admin/resourceGroups",
            headers={"Authorization": f"Bearer {token}"},
            params=params,
        ) as response:
            return response.status, await response.json()


async def test_simulate_serves_labelled_resource_groups():
    """Each --resource-group ID:KEY=VALUE is seeded, announced and listed with its labels."""
    process, lines = await start_simulator(
        "--seed-executions",
        "5",
        "--resource-group",
        "ml-a:ext.ai.sap.com/team=ml,ext.ai.sap.com/stage=dev",
        "--resource-group",
        "ml-b:ext.ai.sap.com/team=ml",
        "--resource-group",
        "web-a:ext.ai.sap.com/team=web",
    )
    try:
        url = lines[0].rsplit(" ", 1)[1]
        env = exported([line for line in lines if line.startswith("  export AICORE_")])
        code, body = await _admin_listing(
            env, url, params={"labelSelector": "ext.ai.sap.com/team=ml"}
        )
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)

    assert env["AICORE_RESOURCE_GROUP"] == "ml-a"
    assert (
        "resource group ml-a (ext.ai.sap.com/team=ml,ext.ai.sap.com/stage=dev): "
        "5 executions, 0 deployments"
    ) in lines
    assert "resource group web-a (ext.ai.sap.com/team=web): 5 executions, 0 deployments" in lines
    assert code == 200
    assert [group["resourceGroupId"] for group in body["resources"]] == ["ml-a", "ml-b"]
    assert body["resources"][1]["labels"] == [{"key": "ext.ai.sap.com/team", "value": "ml"}]


async def test_simulate_without_admin_scope_forbids_the_listing():
    """With --no-admin-scope the client's token gets 403 on the resource group listing."""
    process, lines = await start_simulator("--no-admin-scope")
    try:
        url = lines[0].rsplit(" ", 1)[1]
        env = exported([line for line in lines if line.startswith("  export AICORE_")])
        code, body = await _admin_listing(env, url)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)

    assert code == 403
    assert "scope" in body["error"]["message"]
