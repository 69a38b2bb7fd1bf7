"""The benchmark suite: every contender side by side, in one run, on identical fresh data.

    python benchmarks/run.py [--quick] [--only NAME] [--runs N]        (nox -s bench)

Each measurement starts a fresh simulator process seeded identically with a group of exactly
the size the contender deletes, lists its IDs, runs one contender in its own process, then
reads the simulator's own counts. Every figure is the median of ``--runs`` runs (3), shown
with its minimum and maximum; rounds interleave the contenders. Results (every run) go to
benchmarks/results/bench.json, docs/performance-results.md and a plot in docs/performance.png.
``--quick`` shrinks every size and runs each figure once (a smoke run, not a benchmark).
``--only NAME`` (repeatable or comma-separated: backlog, mixed, capacity, throttled,
remembered, scale, planning) runs just those scenarios; such a partial run goes to
benchmarks/results/bench-only.json and leaves the docs alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp

from aicore_bulk import Limits

if __package__:  # imported as part of the benchmarks package, as the smoke tests do
    from ._harness import RESULTS, machine, save, simulator_process, table
else:  # run as a script (nox -s bench): its own folder is on sys.path
    from _harness import RESULTS, machine, save, simulator_process, table

HERE = Path(__file__).parent
DOCS = HERE.parent / "docs"
DELETABLE_MIX = "COMPLETED=0.6,DEAD=0.25,STOPPED=0.15"
MIXED = "COMPLETED=0.5,DEAD=0.2,STOPPED=0.1,RUNNING=0.2"
STOP_DELAY = 5.0
BATCH = 100
RUNNING = ("RUNNING", "PENDING")
CHANGE_OPS = ("bulk", "stop", "delete")
#: aicore-bulk runs with its default cap of requests in flight: its bounds assume that many.
AICORE_CAP = Limits().concurrency


class Shape(NamedTuple):
    """What a contender's way of working makes unavoidable: the inputs of its bound."""

    #: Items per list page of its status read; None: it reads no statuses.
    page: int | None
    #: One change request per item (per-item calls) instead of one per 100.
    per_item: bool = False
    #: Deletes first and stops what bounces (the skip-status prototype): stops cost a wave more.
    bounce: bool = False


SHAPES = {
    "per-item": Shape(page=10_000, per_item=True),
    "sdk": Shape(page=10_000),
    "raw-aiohttp": Shape(page=None),
    "skip-status": Shape(page=None, bounce=True),
    "aicore-bulk": Shape(page=100_000),
    "aicore-bulk-selection": Shape(page=100_000),
}


def min_changes(shape: Shape, items: int, running: int) -> int:
    """The fewest change requests a contender of this shape can send for the group."""
    if shape.per_item:
        return items + running  # a stop and a delete for each running item
    stops = math.ceil(running / BATCH)
    return math.ceil(items / BATCH) + stops * (2 if shape.bounce else 1)


def serial_reads(shape: Shape, items: int) -> int:
    """List pages read one after another before the first change (meta and $count overlap)."""
    return 0 if shape.page is None else max(1, math.ceil(items / shape.page))


def bound_seconds(
    *,
    changes: int,
    concurrency: int,
    latency: float,
    reads: int = 0,
    token_s: float = 0.0,
    read_s: float = 0.0,
    change_s: float = 0.0,
    busy_s: float = 0.0,
    limit: float | None = None,
    stop_delay: float = 0.0,
) -> float:
    """The fastest any client of this shape could go (docs/performance.md, "The bound").

    A round trip is the added latency plus the simulator's own service time for the request
    (the token endpoint gets no added latency). Without a rate limit: the token, then the
    reads one after another, then ceil(changes / concurrency) round trips of changes, then the
    stop delay; under a rate limit R: changes / R plus the stop delay. Either way at least
    ``busy_s``, the simulator's CPU time for the fewest requests (see :func:`server_floor`),
    plus the latency of the serial reads and of the last change: it runs on one core, which
    is what bounds a run at 0 ms, and at high concurrency at any latency.
    """
    if limit:
        formula = changes / limit + stop_delay
    else:
        serial = token_s + reads * (latency + read_s)
        formula = serial + math.ceil(changes / concurrency) * (latency + change_s) + stop_delay
    return max(formula, busy_s + (reads + (1 if changes else 0)) * latency)


def server_floor(stats: dict[str, Any], *, fewest: int) -> float:
    """The simulator's CPU seconds, scaled down to the fewest requests the work needs.

    The simulator serves on one core, so no client can go faster than its CPU allows; it is
    measured for the whole process (HTTP parsing and all, not only the handlers). A
    contender that sends more requests than needed makes the simulator work more: scaling
    to the fewest keeps that extra work out of its own bound.
    """
    cpu = float(stats.get("process_cpu_seconds", stats.get("busy_seconds", 0.0)))
    served = sum(stats["requests"].values())
    return cpu * min(1.0, fewest / served) if served else cpu


def mean_service(stats: dict[str, Any]) -> dict[str, float]:
    """The simulator's mean service seconds per token, list page and change request."""
    seconds = stats.get("service_seconds", {})
    counts = stats["requests"]

    def mean(*ops: str) -> float:
        n = sum(counts.get(op, 0) for op in ops)
        return sum(seconds.get(op, 0.0) for op in ops) / n if n else 0.0

    return {"token": mean("token"), "list": mean("list"), "change": mean(*CHANGE_OPS)}


async def measure(
    name: str,
    *,
    items: int,
    mix: str,
    latency: float = 0.0,
    concurrency: int | None = None,
    rate: float | None = None,
    limit: float | None = None,
    burst: int = 10,
    capacity: int | None = None,
    label: str | None = None,
    static: bool = False,
    remember: bool = False,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    """One run of one contender on a fresh group of ``items``: its figures and the bound."""
    concurrency = concurrency or (1 if name == "sdk" else AICORE_CAP)
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
        sim_args += ["--rate-limit", str(limit), "--rate-burst", str(burst)]
    if capacity:
        sim_args += ["--capacity", str(capacity)]
    if port:
        sim_args += ["--port", str(port)]  # the last --port wins over the harness's 0
    async with simulator_process(*sim_args) as settings:
        ids = await _ids(settings)
        before = await _get(settings, "/_simulator/states/executions")
        ids_file = RESULTS / f"ids-{os.getpid()}.txt"
        ids_file.write_text("\n".join(ids) + "\n")
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
        if remember:
            command.append("--remember")
        env = {
            **os.environ,
            **(env or {}),
            **{k: v for k, v in settings.items() if k.startswith("AICORE_")},
        }
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
    running = sum(before.get(status, 0) for status in RUNNING)
    shape = SHAPES[name]
    service = mean_service(stats)
    changes = min_changes(shape, len(ids), running)
    reads = serial_reads(shape, len(ids))
    busy = server_floor(stats, fewest=changes + reads + 1)  # + 1: the token
    # A server that serves at most K at once makes the rest wait, whatever the client sends.
    in_service = min(concurrency, capacity) if capacity else concurrency
    bound = bound_seconds(
        changes=changes,
        concurrency=in_service,
        latency=latency,
        reads=reads,
        token_s=service["token"],
        read_s=service["list"],
        change_s=service["change"],
        busy_s=busy,
        limit=limit,
        stop_delay=STOP_DELAY if running else 0.0,
    )
    api_requests = sum(n for op, n in stats["requests"].items() if op != "token")
    # Time in the server, queueing included: what a client of a busy service waits for.
    p95 = stats["latency"]["p95"] if capacity else None
    seconds = round(result["seconds"], 3)
    return {
        "contender": label or name,
        "items": len(ids),
        "running": running,
        "latency": latency,
        "concurrency": concurrency,
        "bound_concurrency": in_service,
        "seconds": seconds,
        "items_per_s": round(len(ids) / result["seconds"], 1),
        "bound_s": round(bound, 6),
        "x_bound": round(seconds / bound, 4) if bound else None,
        "min_changes": changes,
        "serial_reads": reads,
        "requests": api_requests,
        "changes": sum(stats["requests"].get(op, 0) for op in CHANGE_OPS),
        "throttled": stats["throttled"],
        "share_429": round(stats["throttled"] / max(api_requests, 1), 4),
        "busy_seconds": round(busy, 3),
        "service_ms": {op: round(seconds * 1000, 3) for op, seconds in service.items()},
        "p95_s": p95,
        # What a request takes when nothing queues ahead of it: the latency and its service.
        "unloaded_s": round(latency + service["change"], 4),
        "cpu_seconds": round(result["cpu_seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "left": sum(n for status, n in states.items() if status != "DELETED"),
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


#: Runs per figure: each reported figure is the median of these, shown with min and max.
RUNS = 3


class Entry(NamedTuple):
    """One contender of a comparison: a label and its :func:`measure` arguments."""

    label: str
    name: str
    options: dict[str, Any] = {}  # noqa: RUF012 - NamedTuple defaults are never mutated here


def stat(values: Sequence[float]) -> dict[str, float]:
    """Median, minimum and maximum of the runs' values.

    The median of an even count is the mean of the middle two.
    """
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1]}


def spread(figure: dict[str, float] | None, unit: str = "", digits: int = 1) -> str:
    """``11.2x (10.8-11.9)``: the median, then min-max; one run shows only its value."""
    if figure is None:
        return "-"
    median, low, high = (f"{figure[k]:,.{digits}f}" for k in ("median", "min", "max"))
    return f"{median}{unit}" if low == high else f"{median}{unit} ({low}-{high})"


def summarise(
    label: str, runs: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]] | None
) -> dict[str, Any]:
    """One contender's runs as median/min/max figures.

    ``reference``: aicore-bulk's runs of the same rounds, for "aicore-bulk is N times faster"
    (each round's ratio, then their median).
    """
    first = runs[0]

    def median(key: str) -> float:
        return stat([run[key] for run in runs])["median"]

    row: dict[str, Any] = {
        "contender": label,
        "items": first["items"],
        "running": first["running"],
        "concurrency": first["concurrency"],
        "seconds": stat([run["seconds"] for run in runs]),
        "items_per_s": stat([run["items_per_s"] for run in runs]),
        "bound_s": stat([run["bound_s"] for run in runs]),
        "x_bound": stat([run["x_bound"] for run in runs if run["x_bound"] is not None])
        if any(run["x_bound"] is not None for run in runs)
        else None,
        "faster": stat(
            [run["seconds"] / ref["seconds"] for run, ref in zip(runs, reference, strict=True)]
        )
        if reference is not None
        else None,
        "share_429": stat([run["share_429"] for run in runs]),
        "requests": median("requests"),
        "changes": median("changes"),
        "throttled": median("throttled"),
        "cpu_seconds": median("cpu_seconds"),
        "peak_rss_mb": median("peak_rss_mb"),
        "left": max(run["left"] for run in runs),
        "violations": max(run["violations"] for run in runs),
        "runs": list(runs),
    }
    p95 = [run["p95_s"] / run["unloaded_s"] for run in runs if run.get("p95_s")]
    row["p95_vs_unloaded"] = stat(p95) if p95 else None
    return row


#: What :func:`compare` calls to measure: a seam for the unit tests.
Measure = Callable[..., Awaitable[dict[str, Any]]]


async def compare(
    scenario: str,
    entries: Sequence[Entry],
    *,
    runs: int,
    common: dict[str, Any],
    reference: str | None = "aicore-bulk",
    measure_one: Measure | None = None,
    between: Callable[[int], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every entry on its own fresh group of the same size, ``runs`` rounds, interleaved.

    Rounds interleave the contenders so that a drift of the machine hits them all alike;
    ``between(round)`` gives extra :func:`measure` arguments per round (a fresh cache
    directory). A contender's "faster" is the reference's speed over its own, round by round.
    """
    measure_one = measure_one or measure
    measured: dict[str, list[dict[str, Any]]] = {entry.label: [] for entry in entries}
    for round_ in range(runs):
        extra = between(round_) if between else {}
        for entry in entries:
            run = await measure_one(
                entry.name, label=entry.label, **common, **entry.options, **extra
            )
            measured[entry.label].append(run)
            print(
                f"{scenario}: {entry.label}: {run['seconds']} s, {run['x_bound']}x bound",
                flush=True,
            )
    ref = measured.get(reference) if reference else None
    rows = [
        summarise(label, measured[label], None if label == reference else ref) for label in measured
    ]
    return {"scenario": scenario, "items": common["items"], "runs": runs, "rows": rows}


def free_port() -> int:
    """A loopback port free now, so that two simulators in turn can share it (and a host key)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PER_ITEM_SEQ = Entry("per-item, sequential", "per-item", {"concurrency": 1})
PER_ITEM_16 = Entry("per-item, 16 concurrent", "per-item", {"concurrency": 16})
SDK = Entry("SAP SDK bulk_modify loop", "sdk")
RAW = Entry("raw aiohttp (no plan/retries)", "raw-aiohttp", {"concurrency": 16})
AICORE = Entry("aicore-bulk", "aicore-bulk")

#: Group sizes per latency: (main: SDK, raw aiohttp, aicore-bulk), (per-item 16 concurrent,
#: aicore-bulk), (per-item sequential, aicore-bulk). Per-item calls take a round trip per item,
#: so they get smaller groups, and aicore-bulk runs on each size again for their ratios.
BACKLOG_SIZES = {
    0.0: (100_000, 10_000, 2_000),
    0.02: (20_000, 2_500, 400),
    0.1: (20_000, 1_000, 150),
}
QUICK_SIZES = (2_000, 300, 50)


async def backlog(quick: bool, runs: int = RUNS) -> list[dict[str, Any]]:
    """A deletable backlog at 0, 20 and 100 ms: every contender, each on its own fresh group."""
    results = []
    for latency, sizes in BACKLOG_SIZES.items():
        main, medium, small = QUICK_SIZES if quick else sizes
        ms = f"{latency * 1000:.0f} ms"
        for size, entries in (
            (main, (SDK, RAW, AICORE)),
            (medium, (PER_ITEM_16, AICORE)),
            (small, (PER_ITEM_SEQ, AICORE)),
        ):
            common = {"items": size, "mix": DELETABLE_MIX, "latency": latency}
            results.append(
                await compare(f"backlog {size:,}, {ms}", entries, runs=runs, common=common)
            )
    return results


async def mixed(quick: bool, runs: int = RUNS) -> list[dict[str, Any]]:
    """80 % deletable, 20 % running, at 100 ms; with the skip-status prototype (issue 14, 2)."""
    n = 2_000 if quick else 20_000
    common = {"items": n, "mix": MIXED, "latency": 0.1}
    entries = (SDK, Entry("skip-status prototype", "skip-status"), AICORE)
    result = await compare(f"mixed {n:,} (20 % running), 100 ms", entries, runs=runs, common=common)
    result["skip_status"] = evaluate_skip(result)
    return [result]


def evaluate_skip(result: dict[str, Any]) -> dict[str, Any]:
    """Issue 14's two conditions for skipping the status read, from a mixed comparison."""
    rows = {row["contender"]: row for row in result["rows"]}
    proto, engine = rows["skip-status prototype"], rows["aicore-bulk"]
    allowed = math.ceil(engine["running"] / 100)  # one extra request per 100 stopped items
    extra = proto["requests"] - engine["requests"]
    faster = proto["seconds"]["median"] < engine["seconds"]["median"]
    return {
        "faster": faster,
        "speedup": stat(
            [
                e["seconds"] / p["seconds"]
                for p, e in zip(proto["runs"], engine["runs"], strict=True)
            ]
        ),
        "extra_requests": extra,
        "allowed_extra": allowed,
        "within_requests": extra <= allowed,
        "adopt": faster and extra <= allowed,
    }


async def capacity(quick: bool, runs: int = RUNS) -> list[dict[str, Any]]:
    """A server that serves at most K requests at once, at 100 ms (issue 14, part 3)."""
    n = 2_000 if quick else 20_000
    results = []
    for k, entries in (
        (64, (SDK, AICORE)),
        (
            4,
            (
                Entry("aicore-bulk, fixed 16", "aicore-bulk", {"concurrency": 16, "static": True}),
                AICORE,
            ),
        ),
    ):
        common = {"items": n, "mix": DELETABLE_MIX, "latency": 0.1, "capacity": k}
        results.append(
            await compare(
                f"server capacity {k}, {n:,} items, 100 ms", entries, runs=runs, common=common
            )
        )
    return results


async def throttled(quick: bool, runs: int = RUNS) -> list[dict[str, Any]]:
    """A rate limit the client is not told: adaptive vs static rates set too high or too low."""
    results = []
    for limit, n in ((20.0, 2_000 if quick else 10_000), (100.0, 10_000 if quick else 50_000)):
        entries = (
            Entry("aicore-bulk adaptive", "aicore-bulk"),
            Entry("static 3x the limit", "aicore-bulk", {"rate": limit * 3, "static": True}),
            Entry("static 0.5x the limit", "aicore-bulk", {"rate": limit * 0.5, "static": True}),
        )
        common = {"items": n, "mix": MIXED, "latency": 0.02, "limit": limit}
        results.append(
            await compare(
                f"limit {limit:.0f} req/s, {n:,} items",
                entries,
                runs=runs,
                common=common,
                reference="aicore-bulk adaptive",
            )
        )
    return results


async def remembered(quick: bool, runs: int = RUNS) -> list[dict[str, Any]]:
    """A remembered limit's first and second run against an untold 20 req/s, burst 5."""
    n = 2_000 if quick else 10_000
    scenario = f"remembered limit 20 req/s (burst 5), {n:,} items"
    with tempfile.TemporaryDirectory() as tmp:

        def fresh_cache(round_: int) -> dict[str, Any]:
            # Both runs of a round share a cache directory and a port (the host may be part
            # of what the memory is keyed by); each round starts with nothing remembered.
            cache = Path(tmp) / f"round-{round_}"
            cache.mkdir()
            return {"env": {"XDG_CACHE_HOME": str(cache)}, "port": free_port()}

        common = {
            "items": n,
            "mix": MIXED,
            "latency": 0.02,
            "limit": 20.0,
            "burst": 5,
            "remember": True,
        }
        entries = (Entry("first run", "aicore-bulk"), Entry("second run", "aicore-bulk"))
        return [
            await compare(
                scenario, entries, runs=runs, common=common, reference=None, between=fresh_cache
            )
        ]


async def scale(quick: bool, runs: int = RUNS) -> list[dict[str, Any]]:
    """10,000 to 1,000,000 IDs, from a file and from a selection."""
    sizes = (1_000, 10_000) if quick else (10_000, 100_000, 1_000_000)
    results = []
    for n in sizes:
        entries = (AICORE, Entry("aicore-bulk-selection", "aicore-bulk-selection"))
        result = await compare(
            f"scale {n:,}",
            entries,
            runs=runs,
            common={"items": n, "mix": DELETABLE_MIX},
            reference=None,
        )
        for row in result["rows"]:
            row["us_per_item"] = stat([r["seconds"] / n * 1e6 for r in row["runs"]])
        results.append(result)
    return results


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


SECTIONS = ("backlog", "mixed", "capacity", "throttled", "remembered", "scale", "planning")
SCENARIOS = {
    "backlog": backlog,
    "mixed": mixed,
    "capacity": capacity,
    "throttled": throttled,
    "remembered": remembered,
    "scale": scale,
}


async def main(quick: bool, only: Sequence[str] = SECTIONS, runs: int = RUNS) -> dict[str, Any]:
    started = time.perf_counter()
    partial = set(only) != set(SECTIONS)
    options = (
        (["--quick"] if quick else [])
        + ([f"--only {','.join(only)}"] if partial else [])
        + ([f"--runs {runs}"] if runs != (1 if quick else RUNS) else [])
    )
    results: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["nox -s bench", *(["--", *options] if options else [])]),
        "runs": runs,
        "aicore_bulk_cap": AICORE_CAP,
    }
    for section in SECTIONS:
        if section not in only:
            continue
        if section == "planning":
            results[section] = await planning(quick)
        else:
            results[section] = await SCENARIOS[section](quick, runs)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


COLUMNS = (
    "contender",
    "conc.",
    "seconds",
    "items/s",
    "x bound",
    "bound s",
    "aicore-bulk faster",
    "requests",
    "changes",
    "429s",
    "429 share",
    "CPU s",
    "peak RSS MB",
    "left",
)


def table_row(row: dict[str, Any]) -> list[object]:
    """One contender's line: medians with (min-max) over the runs."""
    return [
        row["contender"],
        row["concurrency"],
        spread(row["seconds"], digits=2),
        spread(row["items_per_s"], digits=0),
        spread(row["x_bound"], "x", digits=2),
        f"{row['bound_s']['median']:.2f}",
        spread(row["faster"], "x"),
        f"{row['requests']:,.0f}",
        f"{row['changes']:,.0f}",
        f"{row['throttled']:,.0f}",
        spread(scaled(row["share_429"], 100), " %"),
        f"{row['cpu_seconds']:.2f}",
        f"{row['peak_rss_mb']:.1f}",
        row["left"],
    ]


def scaled(figure: dict[str, float], factor: float) -> dict[str, float]:
    """A median/min/max figure times ``factor`` (a share as a percentage)."""
    return {key: value * factor for key, value in figure.items()}


def scenario_table(result: dict[str, Any]) -> str:
    """A scenario's Markdown section: the table, and its extra figures."""
    head = f"### {result['scenario']}\n"
    columns = list(COLUMNS)
    rows = [table_row(row) for row in result["rows"]]
    extras = [("us_per_item", "µs/item", 1), ("p95_vs_unloaded", "p95 / unloaded", 2)]
    for key, title, digits in extras:
        if any(row.get(key) for row in result["rows"]):
            columns.append(title)
            for line, row in zip(rows, result["rows"], strict=True):
                line.append(spread(row.get(key), "x" if key.startswith("p95") else "", digits))
    running = result["rows"][0]["running"]
    parts = [
        head,
        f"A fresh group of {result['items']:,} items ({running:,} running) per run; "
        f"median of {result['runs']} run(s), (min-max).\n",
        table(columns, rows) + "\n",
    ]
    skip = result.get("skip_status")
    if skip:
        parts.append(
            f"Skip-status prototype: {spread(skip['speedup'], 'x', 2)} the speed of aicore-bulk, "
            f"{skip['extra_requests']:+,.0f} requests (allowed: +{skip['allowed_extra']}); "
            f"{'adopt' if skip['adopt'] else 'not adopted'}"
            f" (faster: {'yes' if skip['faster'] else 'no'}, "
            f"within the requests: {'yes' if skip['within_requests'] else 'no'}).\n"
        )
    return "\n".join(parts)


def report(results: dict[str, Any]) -> str:
    """The Markdown tables of docs/performance-results.md."""
    parts = [
        f"Measured on {results['machine']} by `{results['command']}` "
        f"in {results['total_seconds']:.0f} s. Every figure is the median of "
        f"{results.get('runs', RUNS)} runs with (min-max); every run is in "
        "`benchmarks/results/bench.json`. `x bound`: seconds over the bound for that "
        "contender's concurrency (`conc.`; see docs/performance.md); `aicore-bulk faster`: "
        "aicore-bulk's speed over the contender's on a group of the same size, round by round.\n"
    ]
    parts += [scenario_table(r) for section in SECTIONS[:-1] for r in results.get(section, ())]
    plan = results.get("planning")
    if plan is not None:
        cpu = stat(plan["cpu_seconds_each"])
        parts.append(
            f"### planning\n\nIntake, plan and cut into first requests {plan['ids']:,} IDs: "
            f"{spread(cpu, ' s', 2)} of CPU, the median of "
            f"{', '.join(str(seconds) for seconds in plan['cpu_seconds_each'])} "
            f"({plan['requests']:,} requests).\n"
        )
    return "\n".join(parts)


def plot(results: dict[str, Any], path: Path) -> None:
    """aicore-bulk's speed-up over each contender on the same work, and each one's x bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Per latency, every contender's row from the comparison it ran in (same group size).
    by_latency: dict[str, dict[str, dict[str, Any]]] = {}
    for result in results["backlog"]:
        latency = result["scenario"].rsplit(", ", 1)[1]
        for row in result["rows"]:
            by_latency.setdefault(latency, {}).setdefault(row["contender"], row)
    latencies = list(by_latency)
    everyone = list(dict.fromkeys(c for rows in by_latency.values() for c in rows))
    colours = dict(zip(everyone, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    fig, (faster, bound) = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, key in ((faster, "faster"), (bound, "x_bound")):
        # The reference (aicore-bulk) has no "faster" of its own: it is left out of that panel.
        contenders = list(
            dict.fromkeys(
                c for rows in by_latency.values() for c, row in rows.items() if row.get(key)
            )
        )
        width = 0.8 / len(contenders)
        for index, contender in enumerate(contenders):
            figures = [by_latency[lat].get(contender, {}).get(key) for lat in latencies]
            medians = [f["median"] if f else 0.0 for f in figures]
            errors = [
                [f["median"] - f["min"] if f else 0.0 for f in figures],
                [f["max"] - f["median"] if f else 0.0 for f in figures],
            ]
            xs = [x + index * width for x in range(len(latencies))]
            ax.bar(
                xs,
                medians,
                width,
                yerr=errors,
                capsize=3,
                label=contender,
                color=colours.get(contender),
            )
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(latencies))], latencies)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.legend(fontsize=7)
    faster.set_yscale("log")
    faster.set_ylabel("aicore-bulk's speed over the contender's (log)")
    faster.set_title("How many times faster aicore-bulk is, on the same work")
    bound.set_yscale("log")
    bound.set_ylabel("seconds / bound (log)")
    bound.set_title("Distance to each contender's own bound (1 = the bound)")
    fig.suptitle(
        f"Deleting a backlog of executions: median of {results.get('runs', RUNS)} runs, "
        "bars from min to max"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these scenarios (repeatable or comma-separated): {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help=f"runs per figure (default {RUNS}; --quick: 1)"
    )
    args = parser.parse_args(argv)
    only = [name.strip() for value in args.only or () for name in value.split(",") if name.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    runs = args.runs or (1 if args.quick else RUNS)
    if runs < 1:
        parser.error("--runs must be at least 1")
    RESULTS.mkdir(exist_ok=True)
    results = asyncio.run(main(args.quick, only or SECTIONS, runs))
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
