"""``aicore-bulk demo``: the main job, a real cleanup of a realistic tenant on the simulator.

It runs through the same code as ``aicore-bulk delete --all``: the same client, engine,
progress display and summary. Only the server is the embedded simulator.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TextIO

import attrs

from aicore_bulk import BulkClient, Limits, RunOptions, Selection, Target
from aicore_bulk._cli._exit import EXIT_OK
from aicore_bulk._cli._render import count
from aicore_bulk._cli._run import run_with
from aicore_bulk._cli._simulate import deployment_mix
from aicore_bulk._cli._types import KINDS, STATUSES
from aicore_bulk.testing import DEFAULT_MIX, Faults, Simulator, SimulatorConfig, serve

#: A round trip to a cloud region, a gateway that throttles, and runs that take a while to stop.
_DEMO_CONFIG = SimulatorConfig(
    stop_delay=3.0,
    faults=Faults(latency=0.02, latency_jitter=0.01, rate_limit=60.0, rate_burst=20),
)


async def demo(args: argparse.Namespace) -> int:
    """Seed, show, clean up, and show what is left."""
    sim = Simulator(attrs.evolve(_DEMO_CONFIG, seed=args.seed))
    sim.seed("executions", args.items)
    sim.seed("deployments", max(1, args.items // 1000), statuses=deployment_mix(DEFAULT_MIX))
    out = sys.stdout
    print(f"The embedded simulator holds a tenant (seed {args.seed}):", file=out)
    _show(sim, out)
    print(
        "It answers in 20-30 ms, throttles above 60 requests/s (429 with Retry-After), and "
        "takes 3 s to stop a run.\nCleaning up everything in resource group 'default':\n",
        file=out,
    )
    code = EXIT_OK
    async with serve(sim) as server:
        for kind in KINDS:
            client = BulkClient(
                base_url=server.base_url,
                auth_url=server.token_url,
                client_id=server.credentials.client_id,
                client_secret=server.credentials.client_secret,
                resource_group="default",
                limits=Limits(concurrency=16),
                options=RunOptions(poll_interval=0.5),
            )
            async with client:
                code = max(
                    code,
                    await run_with(
                        client,
                        _run_args(kind, args),
                        target=Target.DELETED,
                        ids_source=Selection(),
                    ),
                )
            print(file=out)
    left = {kind: sum(not s.deleted for s in sim.states(kind).values()) for kind in KINDS}
    stats = sim.statistics()
    print(
        f"The simulator's own count: {count(left['executions'], 'execution')} and "
        f"{count(left['deployments'], 'deployment')} left; "
        f"{count(stats.violation_count, 'contract violation')}; "
        f"{count(stats.throttled, 'request')} throttled.",
        file=out,
    )
    return code


def _run_args(kind: str, args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        kind=kind,
        dry_run=False,
        quiet=False,
        output="table",
        no_progress=args.no_progress,
        deadline=None,
        max_items=None,
        yes=True,
        wait=None,
        report=None,
        concurrency=16,
        rate=None,
        command="delete",
        # A demo tenant's running deployments are part of the cleanup it shows.
        include_running=True,
    )


def _show(sim: Simulator, out: TextIO) -> None:
    for kind in KINDS:
        counts = Counter(state.status for state in sim.states(kind).values())
        table = ", ".join(f"{status} {counts[status]:,}" for status in STATUSES if counts[status])
        print(f"  {kind:<12} {sum(counts.values()):>7,}  ({table})", file=out)
