"""``aicore-bulk simulate``: the simulator as a standalone server."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import shlex
import sys
from collections.abc import Mapping

from aicore_bulk._cli._exit import EXIT_OK, EXIT_USAGE, fail
from aicore_bulk._cli._render import count
from aicore_bulk._cli._streams import say
from aicore_bulk._cli._types import KINDS
from aicore_bulk.testing import (
    DEFAULT_MIX,
    Faults,
    Lifecycle,
    ResourceGroup,
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
    groups = resource_groups(args)
    config = SimulatorConfig(
        auth=not args.no_auth,
        admin_scope=not args.no_admin_scope,
        resource_groups={group.resource_group_id: group.labels for group in groups},
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
    for group in config.resource_groups:
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


def resource_groups(args: argparse.Namespace) -> list[ResourceGroup]:
    """The groups ``--resource-group`` declares (``default`` when none); each ID once."""
    groups: list[ResourceGroup] = args.resource_group or [ResourceGroup("default")]
    seen: set[str] = set()
    for group in groups:
        if group.resource_group_id in seen:
            raise ValueError(f"--resource-group {group.resource_group_id} is given twice")
        seen.add(group.resource_group_id)
    return groups


def simulate(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; print the URL and the settings first.

    The settings are ``export`` lines a POSIX shell takes as they are. With ``--print-env``
    they are all that goes to stdout: printed once the server listens, then stdout is closed,
    so that ``eval "$(aicore-bulk simulate --print-env &)"`` returns at once and sets them
    while the server runs on in the background.
    """
    sim = simulator_from_args(args)
    groups = sim.resource_groups()
    ready = False

    def announce(running: RunningSimulator) -> None:
        nonlocal ready
        ready = True
        exports = export_lines(running.environment(groups[0].resource_group_id))
        if args.print_env:
            print("\n".join(exports), flush=True)  # noqa: T201
            _close_stdout()
            pid = os.getpid()
            print(  # noqa: T201
                f"aicore-bulk simulator listening on {running.url} as process {pid}; "
                f"stop it with: kill {pid}",
                file=sys.stderr,
                flush=True,
            )
            return
        lines = [f"aicore-bulk simulator listening on {running.url}"]
        lines += [f"  {line}" for line in exports]
        for group in groups:
            name = group.resource_group_id
            held = ", ".join(
                count(len(sim.states(kind, name)), kind.removesuffix("s")) for kind in KINDS
            )
            labels = ",".join(f"{key}={value}" for key, value in group.labels.items())
            lines.append(f"resource group {name}{f' ({labels})' if labels else ''}: {held}")
        lines.append("Press Ctrl-C to stop.")
        say("\n".join(lines), sys.stdout)

    try:
        asyncio.run(serve_until_signal(sim, host=args.host, port=args.port, on_ready=announce))
    except OSError as error:
        if ready:
            raise  # not about listening: a bug, with its traceback
        where = _address(args.host, args.port)
        return fail(f"cannot listen on {where}: {_reason(error)}", EXIT_USAGE)
    if not args.print_env:
        say("aicore-bulk simulator stopped.", sys.stdout)
    return EXIT_OK


def export_lines(environment: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` for each setting, quoted for a POSIX shell."""
    return [f"export {name}={shlex.quote(value)}" for name, value in environment.items()]


def _close_stdout() -> None:
    """Point stdout at the null device: a reader of the pipe sees its end, the server runs on.

    ``$(...)`` reads until every writer has closed the pipe; a server that kept it open
    would hold the shell until it stopped.
    """
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    finally:
        os.close(null)


def deployment_mix(mix: Mapping[str, float]) -> dict[str, float]:
    """Deployments never complete: their share of COMPLETED goes to STOPPED."""
    adjusted = dict(mix)
    adjusted["STOPPED"] = adjusted.get("STOPPED", 0.0) + adjusted.pop("COMPLETED", 0.0)
    return adjusted


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
