"""The ``aicore-bulk`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

from aicore_bulk._simulator._core import Simulator, SimulatorConfig
from aicore_bulk._simulator._faults import Faults
from aicore_bulk._simulator._rules import KINDS, STATUSES
from aicore_bulk._simulator._seed import DEFAULT_MIX, Lifecycle
from aicore_bulk._simulator._server import RunningSimulator, serve_until_signal
from aicore_bulk._version import __version__

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "simulate":
            return _simulate(args)
        return _demo(args)
    except ValueError as error:
        print(f"aicore-bulk: error: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aicore-bulk",
        description="Fast, safe bulk stop and delete for SAP AI Core.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser(
        "simulate",
        help="serve a simulated AI API on loopback",
        description="Serve a simulated AI API until Ctrl-C or SIGTERM.",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulate.add_argument("--port", type=_port, default=8080, help="0 picks a free port")
    _add_simulator_options(simulate)

    demo = commands.add_parser(
        "demo",
        help="seed the embedded simulator and show the tenant it holds",
        description="Run the main job on the embedded simulator (no AI Core account needed).",
    )
    demo.add_argument("--items", type=_count, default=20_000, help="executions to seed")
    demo.add_argument("--seed", type=int, default=0, help="seed for the workload")
    return parser


def _add_simulator_options(parser: argparse.ArgumentParser) -> None:
    seeding = parser.add_argument_group("seeding")
    seeding.add_argument("--seed-executions", type=_count, default=0, metavar="N")
    seeding.add_argument("--seed-deployments", type=_count, default=0, metavar="N")
    seeding.add_argument(
        "--resource-group",
        action="append",
        metavar="ID",
        help="seed each of these groups (repeatable; default: default)",
    )
    seeding.add_argument(
        "--status-mix",
        type=_mix,
        default=DEFAULT_MIX,
        metavar="S=W,...",
        help="status weights, e.g. COMPLETED=0.8,RUNNING=0.2",
    )
    seeding.add_argument("--seed", type=int, default=0, help="seeds IDs, statuses and faults")

    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument("--no-auth", action="store_true", help="accept requests without tokens")
    behaviour.add_argument("--token-lifetime", type=_seconds, default=3600.0, metavar="S")
    behaviour.add_argument("--stop-delay", type=_seconds, default=5.0, metavar="S")
    behaviour.add_argument("--delete-linger", type=_seconds, default=60.0, metavar="S")
    behaviour.add_argument(
        "--no-bulk",
        choices=KINDS,
        action="append",
        default=[],
        help="switch the bulk PATCH off for this kind (repeatable)",
    )
    behaviour.add_argument("--shuffle-answers", action="store_true")
    behaviour.add_argument("--conflict-status", type=int, choices=(400, 412), default=412)

    lifecycle = parser.add_argument_group("items that change by themselves")
    lifecycle.add_argument("--complete-rate", type=_fraction, default=0.0, metavar="P")
    lifecycle.add_argument("--die-rate", type=_fraction, default=0.0, metavar="P")
    lifecycle.add_argument("--stopped-by-others-rate", type=_fraction, default=0.0, metavar="P")
    lifecycle.add_argument("--change-within", type=_seconds, default=60.0, metavar="S")

    faults = parser.add_argument_group("faults")
    faults.add_argument("--latency", type=_seconds, default=0.0, metavar="S")
    faults.add_argument("--latency-jitter", type=_seconds, default=0.0, metavar="S")
    faults.add_argument("--rate-limit", type=float, default=None, metavar="REQ_PER_S")
    faults.add_argument("--rate-burst", type=_count, default=10, metavar="N")
    faults.add_argument("--retry-after", choices=("seconds", "http-date"), default="seconds")
    faults.add_argument("--throttle-burst-every", type=float, default=None, metavar="S")
    faults.add_argument("--throttle-burst-length", type=_seconds, default=0.0, metavar="S")
    faults.add_argument("--server-errors", type=_fraction, default=0.0, metavar="P")
    faults.add_argument("--unavailable", type=_fraction, default=0.0, metavar="P")
    faults.add_argument("--unavailable-retry-after", type=_seconds, default=1.0, metavar="S")
    faults.add_argument("--dropped-connections", type=_fraction, default=0.0, metavar="P")
    faults.add_argument("--truncated-bodies", type=_fraction, default=0.0, metavar="P")
    faults.add_argument("--malformed-bodies", type=_fraction, default=0.0, metavar="P")


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
    for group in args.resource_group or ["default"]:
        if args.seed_executions:
            sim.seed(
                "executions", args.seed_executions, resource_group=group, statuses=args.status_mix
            )
        if args.seed_deployments:
            sim.seed(
                "deployments",
                args.seed_deployments,
                resource_group=group,
                statuses=_deployment_mix(args.status_mix),
            )
    return sim


def _simulate(args: argparse.Namespace) -> int:
    sim = simulator_from_args(args)
    groups = args.resource_group or ["default"]

    def announce(running: RunningSimulator) -> None:
        lines = [f"aicore-bulk simulator listening on {running.url}"]
        lines += [f"  {name}={value}" for name, value in running.environment(groups[0]).items()]
        for group in groups:
            held = ", ".join(f"{len(sim.states(kind, group))} {kind}" for kind in KINDS)
            lines.append(f"resource group {group}: {held}")
        lines.append("Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)  # noqa: T201

    asyncio.run(serve_until_signal(sim, host=args.host, port=args.port, on_ready=announce))
    print("aicore-bulk simulator stopped.", flush=True)  # noqa: T201
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    sim = Simulator(SimulatorConfig(seed=args.seed))
    sim.seed("executions", args.items)
    sim.seed("deployments", max(1, args.items // 1000), statuses=_deployment_mix(DEFAULT_MIX))
    print(f"Seeded the embedded simulator (seed {args.seed}):")  # noqa: T201
    for kind in KINDS:
        counts = Counter(state.status for state in sim.states(kind).values())
        table = ", ".join(f"{status} {counts[status]}" for status in STATUSES if counts[status])
        print(f"  {kind:<12} {sum(counts.values()):>7}  ({table})")  # noqa: T201
    return EXIT_OK


def _deployment_mix(mix: Mapping[str, float]) -> dict[str, float]:
    """Deployments never complete: their share of COMPLETED goes to STOPPED."""
    adjusted = dict(mix)
    adjusted["STOPPED"] = adjusted.get("STOPPED", 0.0) + adjusted.pop("COMPLETED", 0.0)
    return adjusted


# argparse types: each raises ValueError (argparse turns it into a usage error, exit 2).


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count >= 0")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:  # noqa: PLR2004
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability between 0 and 1")
    return value


def _mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        status, sep, weight = part.partition("=")
        status = status.strip().upper()
        if not sep or status not in STATUSES:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not STATUS=WEIGHT with a status of {', '.join(STATUSES)}"
            )
        mix[status] = _seconds(weight)
    return mix
