"""The benchmark suite: every contender side by side, in one run, on identical fresh data.

    python benchmarks/run.py [--quick] [--only NAME]        (nox -s bench)

Each measurement starts a fresh simulator process seeded identically, lists its IDs,
runs one contender in its own process, then reads the simulator's own counts.
Results go to benchmarks/results/bench.json, docs/performance-results.md and a plot in
docs/performance.png. ``--quick`` shrinks every size (a smoke run: minutes, not a benchmark).
``--only NAME`` (repeatable or comma-separated: backlog, mixed, throttled, scale, planning)
runs just those scenarios; such a partial run goes to benchmarks/results/bench-only.json and
leaves the docs alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

if __package__:  # imported as part of the benchmarks package, as the smoke tests do
    from ._harness import RESULTS, machine, save, simulator_process, table
else:  # run as a script (nox -s bench): its own folder is on sys.path
    from _harness import RESULTS, machine, save, simulator_process, table

HERE = Path(__file__).parent
DOCS = HERE.parent / "docs"
DELETABLE_MIX = "COMPLETED=0.6,DEAD=0.25,STOPPED=0.15"
MIXED = "COMPLETED=0.5,DEAD=0.2,STOPPED=0.1,RUNNING=0.2"
STOP_DELAY = 5.0
CONCURRENCY = 16


async def measure(
    name: str,
    *,
    items: int,
    mix: str,
    latency: float = 0.0,
    subset: int | None = None,
    concurrency: int = CONCURRENCY,
    rate: float | None = None,
    limit: float | None = None,
    label: str | None = None,
    static: bool = False,
) -> dict[str, Any]:
    """One contender on a freshly seeded simulator; its figures and the simulator's."""
    sim_args = [
        "--seed-executions",
        str(items),
        "--status-mix",
        mix,
        "--seed",
        "7",
        "--latency",
        str(latency),
        "--stop-delay",
        str(STOP_DELAY),
        "--delete-linger",
        "600",
        "--token-lifetime",
        "43200",  # what XSUAA gives; shorter makes SAP's SDK refetch per call
    ]
    if limit:
        sim_args += ["--rate-limit", str(limit), "--rate-burst", "10"]
    async with simulator_process(*sim_args) as settings:
        ids = await _ids(settings)
        chosen = ids[:subset] if subset else ids
        ids_file = RESULTS / f"ids-{os.getpid()}.txt"
        ids_file.write_text("\n".join(chosen) + "\n")
        await _post(settings, "/_simulator/reset-statistics")
        command = [
            sys.executable,
            str(HERE / "contenders.py"),
            name,
            "--ids-file",
            str(ids_file),
            "--concurrency",
            str(concurrency),
        ]
        if rate:
            command += ["--rate", str(rate)]
        if static:
            command.append("--static")
        env = {**os.environ, **{k: v for k, v in settings.items() if k.startswith("AICORE_")}}
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
        )
        out, err = await process.communicate()
        ids_file.unlink()
        if process.returncode:
            raise RuntimeError(f"{name} failed: {err.decode()[-2000:]}")
        result = json.loads(out.decode().strip().splitlines()[-1])
        stats = await _get(settings, "/_simulator/statistics")
        states = await _get(settings, "/_simulator/states/executions")
    api_requests = sum(n for op, n in stats["requests"].items() if op != "token")
    return {
        "contender": label or name,
        "items": len(chosen),
        "scaled": subset is not None and subset < items,
        "seconds": round(result["seconds"], 3),
        "items_per_s": round(len(chosen) / result["seconds"], 1),
        "requests": api_requests,
        "changes": sum(stats["requests"].get(op, 0) for op in ("bulk", "stop", "delete")),
        "throttled": stats["throttled"],
        "cpu_seconds": round(result["cpu_seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "left": sum(n for status, n in states.items() if status != "DELETED")
        - (items - len(chosen)),
        "violations": stats["violation_count"],
    }


async def _ids(settings: dict[str, str]) -> list[str]:
    async with aiohttp.ClientSession() as session:
        form = {
            "grant_type": "client_credentials",
            "client_id": settings["AICORE_CLIENT_ID"],
            "client_secret": settings["AICORE_CLIENT_SECRET"],
        }
        async with session.post(settings["AICORE_AUTH_URL"], data=form) as response:
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "AI-Resource-Group": "default"}
        ids: list[str] = []
        while True:
            params = {"$select": "status", "$top": "100000", "$skip": str(len(ids))}
            async with session.get(
                f"{settings['AICORE_BASE_URL']}/lm/executions", headers=headers, params=params
            ) as response:
                page = (await response.json())["resources"]
            ids += [item["id"] for item in page]
            if len(page) < 100_000:
                return ids


async def _get(settings: dict[str, str], path: str) -> Any:  # noqa: ANN401
    async with aiohttp.ClientSession() as session, session.get(settings["url"] + path) as r:
        return await r.json()


async def _post(settings: dict[str, str], path: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(settings["url"] + path) as r:
        await r.read()


def lower_bound(
    changes: int, *, concurrency: int, latency: float, limit: float | None, stop: bool
) -> float:
    """The fastest any client could go: requests at the limit, plus the stop wait."""
    by_requests = changes / limit if limit else math.ceil(changes / concurrency) * latency
    return by_requests + (STOP_DELAY if stop else 0.0)


async def backlog(quick: bool) -> list[dict[str, Any]]:
    """A deletable backlog at 0, 20 and 100 ms: every contender."""
    n = 10_000 if quick else 100_000
    rows = []
    for latency, seq, par, sdk in (
        (0.0, 2_000, 10_000, n),
        (0.02, 500, 5_000, 20_000),
        (0.1, 200, 2_000, 20_000),
    ):
        if quick:
            seq, par, sdk = min(seq, 200), min(par, 1_000), min(sdk, 2_000)
        common = {"items": n, "mix": DELETABLE_MIX, "latency": latency}
        for row in (
            await measure(
                "per-item", subset=seq, concurrency=1, label="per-item, sequential", **common
            ),
            await measure("per-item", subset=par, label="per-item, 16 concurrent", **common),
            await measure("sdk", subset=sdk, label="SAP SDK bulk_modify loop", **common),
            await measure("raw-aiohttp", label="raw aiohttp (no plan/retries)", **common),
            await measure("aicore-bulk", **common),
        ):
            rows.append({"scenario": f"backlog {n:,}, {latency * 1000:.0f} ms", **row})
            print(rows[-1], flush=True)
    return rows


async def mixed(quick: bool) -> list[dict[str, Any]]:
    """80 % deletable, 20 % running, at 100 ms: the stop wait must not delay the other 80 %."""
    n = 10_000 if quick else 100_000
    rows = []
    for name, subset, label in (
        ("sdk", 2_000 if quick else 20_000, "SAP SDK bulk_modify loop"),
        ("aicore-bulk", None, None),
    ):
        row = await measure(name, items=n, mix=MIXED, latency=0.1, subset=subset, label=label)
        running = row["items"] // 5
        changes = math.ceil((row["items"]) / 100) + math.ceil(running / 100)
        row["lower_bound_s"] = round(
            lower_bound(changes, concurrency=CONCURRENCY, latency=0.1, limit=None, stop=True), 2
        )
        rows.append({"scenario": f"mixed {n:,} (20 % running), 100 ms", **row})
        print(rows[-1], flush=True)
    return rows


async def throttled(quick: bool) -> list[dict[str, Any]]:
    """A rate limit the client is not told: adaptive vs static rates set too high or too low."""
    rows = []
    for limit, n in ((20.0, 2_000 if quick else 10_000), (100.0, 10_000 if quick else 50_000)):
        changes = math.ceil(n * 1.2 / 100) + 2 + math.ceil(n / 10_000)
        bound = lower_bound(changes, concurrency=CONCURRENCY, latency=0.02, limit=limit, stop=True)
        for rate, label in (
            (None, "aicore-bulk adaptive"),
            (limit * 3, "static 3x the limit"),
            (limit * 0.5, "static 0.5x the limit"),
        ):
            row = await measure(
                "aicore-bulk",
                items=n,
                mix=MIXED,
                latency=0.02,
                limit=limit,
                rate=rate,
                label=label,
                static=rate is not None,
            )
            row["lower_bound_s"] = round(bound, 2)
            row["share_429"] = round(row["throttled"] / max(row["requests"], 1), 3)
            rows.append({"scenario": f"limit {limit:.0f} req/s, {n:,} items", **row})
            print(rows[-1], flush=True)
    return rows


async def scale(quick: bool) -> list[dict[str, Any]]:
    """10,000 to 1,000,000 IDs, from a file and from a selection."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000, 1_000_000)
    rows = []
    for n in sizes:
        for name in ("aicore-bulk", "aicore-bulk-selection"):
            row = await measure(name, items=n, mix=DELETABLE_MIX)
            row["us_per_item"] = round(row["seconds"] / n * 1e6, 1)
            rows.append({"scenario": f"scale {n:,}", **row})
            print(rows[-1], flush=True)
    return rows


#: Planning is measured this many times; the median is the figure (single CPU timings of a
#: second or two vary by a fifth on this virtual machine). Every figure is recorded.
PLANNING_RUNS = 3


async def planning(quick: bool) -> dict[str, Any]:
    """CPU seconds of the engine's own planning of 1,000,000 IDs (median of three runs).

    That is intake, then every item's path and the first requests; statuses are set as a
    resolve would (untimed), and nothing is sent.
    """
    n = 100_000 if quick else 1_000_000
    runs = [await _plan_once(n) for _ in range(PLANNING_RUNS)]
    cpu = sorted(seconds for seconds, _ in runs)
    return {
        "ids": n,
        "cpu_seconds": cpu[len(cpu) // 2],
        "cpu_seconds_each": [seconds for seconds, _ in runs],
        "requests": runs[0][1],
    }


async def _plan_once(n: int) -> tuple[float, int]:
    """The engine's own path from IDs to the first requests: intake, routing, packing."""
    from aicore_bulk._book import ItemBook
    from aicore_bulk._clock import SYSTEM_CLOCK
    from aicore_bulk._intake import intake_states
    from aicore_bulk._models import Status, Target
    from aicore_bulk._planner import pack
    from aicore_bulk._routing import route_items
    from aicore_bulk._stop_wait import StopWait
    from aicore_bulk._transitions import Goal

    ids = [f"e{i:016x}" for i in range(n)]
    statuses = list(Status)
    started = time.process_time()
    items, _, _ = await intake_states(ids, None, "executions")  # type: ignore[arg-type]
    cpu = time.process_time() - started
    for index, state in enumerate(items.values()):  # what resolve would learn (not timed)
        state.status = statuses[index % len(statuses)]
    book = ItemBook(items)
    started = time.process_time()
    routed = route_items(Goal("executions", Target.DELETED), book)
    StopWait(book, None, SYSTEM_CLOCK, 600.0).add(routed.waits)  # type: ignore[arg-type]
    requests = sum(1 for _ in pack(routed.stops, routed.deletes))
    cpu += time.process_time() - started
    return round(cpu, 3), requests


SECTIONS = ("backlog", "mixed", "throttled", "scale", "planning")


async def main(quick: bool, only: Sequence[str] = SECTIONS) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "command": "nox -s bench"
        + (" -- --quick" if quick else "")
        + (f" -- --only {','.join(only)}" if set(only) != set(SECTIONS) else ""),
    }
    scenarios = {"backlog": backlog, "mixed": mixed, "throttled": throttled, "scale": scale}
    for section in SECTIONS:
        if section not in only:
            continue
        if section == "planning":
            results[section] = await planning(quick)
        else:
            results[section] = await scenarios[section](quick)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def report(results: dict[str, Any]) -> str:
    """The Markdown tables of docs/performance-results.md."""
    columns = [
        "contender",
        "items",
        "seconds",
        "items_per_s",
        "requests",
        "changes",
        "throttled",
        "cpu_seconds",
        "peak_rss_mb",
        "left",
    ]
    parts = [
        f"Measured on {results['machine']} by `{results['command']}` "
        f"in {results['total_seconds']:.0f} s.\n"
    ]
    for section in ("backlog", "mixed", "throttled", "scale"):
        if section not in results:
            continue
        rows = results[section]
        extra = [c for c in ("lower_bound_s", "share_429", "us_per_item") if c in rows[0]]
        for scenario in dict.fromkeys(row["scenario"] for row in rows):
            chosen = [r for r in rows if r["scenario"] == scenario]
            parts.append(f"### {scenario}\n")
            parts.append(
                table(
                    columns + extra,
                    [
                        [
                            f"{r[c]}{' (subset, scaled)' if c == 'items' and r['scaled'] else ''}"
                            for c in columns + extra
                        ]
                        for r in chosen
                    ],
                )
                + "\n"
            )
    plan = results.get("planning")
    if plan is not None:
        parts.append(
            f"### planning\n\nIntake, plan and cut into first requests {plan['ids']:,} IDs: "
            f"{plan['cpu_seconds']} s of CPU, the median of "
            f"{', '.join(str(seconds) for seconds in plan['cpu_seconds_each'])} "
            f"({plan['requests']:,} requests).\n"
        )
    return "\n".join(parts)


def plot(results: dict[str, Any], path: Path) -> None:
    """Items per second per contender and latency (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["backlog"]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    contenders = list(dict.fromkeys(r["contender"] for r in rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(contenders)
    for index, contender in enumerate(contenders):
        values = [
            next(
                r["items_per_s"] for r in rows if r["scenario"] == s and r["contender"] == contender
            )
            for s in scenarios
        ]
        ax.bar([x + index * width for x in range(len(scenarios))], values, width, label=contender)
    ax.set_yscale("log")
    ax.set_ylabel("items deleted per second (log)")
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(scenarios))], scenarios)
    ax.set_title("Deleting a backlog of executions, side by side")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these scenarios (repeatable or comma-separated): {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    only = [name.strip() for value in args.only or () for name in value.split(",") if name.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    RESULTS.mkdir(exist_ok=True)
    results = asyncio.run(main(args.quick, only or SECTIONS))
    partial = bool(only) and set(only) != set(SECTIONS)
    save("bench-only" if partial else "bench-quick" if args.quick else "bench", results)
    if not args.quick and not partial:
        (DOCS / "performance-results.md").write_text(
            "# Benchmark results (generated)\n\n" + report(results)
        )
        plot(results, DOCS / "performance.png")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
