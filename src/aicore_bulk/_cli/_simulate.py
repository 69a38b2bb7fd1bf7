"""``aicore-bulk simulate``: the simulator as a standalone server."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
from collections.abc import Mapping

from aicore_bulk._cli._exit import EXIT_OK, EXIT_USAGE, fail
from aicore_bulk._cli._streams import say
from aicore_bulk._cli._types import KINDS
from aicore_bulk.testing import (
    DEFAULT_MIX,
    Faults,
    Lifecycle,
    RunningSimulator,
    Simulator,
    SimulatorConfig,
    serve_until_signal,
)


def simulator_from_args(args: argparse.Namespace) -> Simulator:
    """Build and seed a simulator from ``simulate``'s options."""
    lifecycle = None
    if args.complete_rate or args.die_rate or args.stopped_by_others_rate:
        lifecycle = Lifecycle(
            complete=args.complete_rate,
            die=args.die_rate,
            stopped_by_others=args.stopped_by_others_rate,
            within=args.change_within,
        )
    config = SimulatorConfig(
        auth=not args.no_auth,
        token_lifetime=args.token_lifetime,
        stop_delay=args.stop_delay,
        delete_linger=args.delete_linger,
        bulk_executions="executions" not in args.no_bulk,
        bulk_deployments="deployments" not in args.no_bulk,
        shuffle_answers=args.shuffle_answers,
        conflict_status=args.conflict_status,
        lifecycle=lifecycle,
        seed=args.seed,
        faults=Faults(
            latency=args.latency,
            latency_jitter=args.latency_jitter,
            rate_limit=args.rate_limit,
            rate_burst=args.rate_burst,
            retry_after=args.retry_after,
            throttle_burst_every=args.throttle_burst_every,
            throttle_burst_length=args.throttle_burst_length,
            server_errors=args.server_errors,
            unavailable=args.unavailable,
            unavailable_retry_after=args.unavailable_retry_after,
            dropped_connections=args.dropped_connections,
            truncated_bodies=args.truncated_bodies,
            malformed_bodies=args.malformed_bodies,
        ),
    )
    sim = Simulator(config)
    mix = args.status_mix or DEFAULT_MIX
    for group in args.resource_group or ["default"]:
        if args.seed_executions:
            sim.seed("executions", args.seed_executions, resource_group=group, statuses=mix)
        if args.seed_deployments:
            sim.seed(
                "deployments",
                args.seed_deployments,
                resource_group=group,
                statuses=deployment_mix(mix),
            )
    return sim


def simulate(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; print the URL and credentials first."""
    sim = simulator_from_args(args)
    groups = args.resource_group or ["default"]
    ready = False

    def announce(running: RunningSimulator) -> None:
        nonlocal ready
        ready = True
        lines = [f"aicore-bulk simulator listening on {running.url}"]
        lines += [f"  {name}={value}" for name, value in running.environment(groups[0]).items()]
        for group in groups:
            held = ", ".join(f"{len(sim.states(kind, group))} {kind}" for kind in KINDS)
            lines.append(f"resource group {group}: {held}")
        lines.append("Press Ctrl-C to stop.")
        say("\n".join(lines), sys.stdout)

    try:
        asyncio.run(serve_until_signal(sim, host=args.host, port=args.port, on_ready=announce))
    except OSError as error:
        if ready:
            raise  # not about listening: a bug, with its traceback
        where = _address(args.host, args.port)
        return fail(f"cannot listen on {where}: {_reason(error)}", EXIT_USAGE)
    say("aicore-bulk simulator stopped.", sys.stdout)
    return EXIT_OK


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(error: OSError) -> str:
    """Why the port could not be had, and what to do about the usual case."""
    if error.errno is not None and error.errno > 0:
        reason = os.strerror(error.errno)
    else:  # a name that does not resolve (socket.gaierror's errno is negative)
        reason = error.strerror or str(error)
    if error.errno == errno.EADDRINUSE:
        reason += " (another server listens there: choose another --port, or --port 0)"
    return reason


def deployment_mix(mix: Mapping[str, float]) -> dict[str, float]:
    """Deployments never complete: their share of COMPLETED goes to STOPPED."""
    adjusted = dict(mix)
    adjusted["STOPPED"] = adjusted.get("STOPPED", 0.0) + adjusted.pop("COMPLETED", 0.0)
    return adjusted
