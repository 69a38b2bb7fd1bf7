"""The parser: every command, flag and default of ``aicore-bulk``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from aicore_bulk import Status, __version__
from aicore_bulk._cli import _types as t
from aicore_bulk._cli._types import KINDS


class _NoPlainSecret(argparse.Action):
    """``--client-secret`` exists only to say where a secret belongs instead."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        parser.error(
            "a client secret is never taken as an argument (it would show in process lists "
            "and shell history): use AICORE_CLIENT_SECRET, --client-secret-file, "
            "AICORE_SERVICE_KEY or a profile"
        )


class _IntermixedParser(argparse.ArgumentParser):
    """A command's parser that takes IDs after options too (``delete executions -y e-0001``).

    argparse stops filling ``ID...`` at the first option; its intermixed parsing does not, but
    it calls ``parse_known_args`` itself, hence the guard.
    """

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="aicore-bulk",
        description="Fast, safe bulk stop and delete for SAP AI Core.",
        epilog="Exit codes: 0 all fine, 1 some items failed/skipped/unknown, 2 usage or "
        "configuration error (nothing sent), 3 refused (--max-items, declined), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_IntermixedParser
    )

    for name, verb in (("delete", "delete (stopping first what must stop)"), ("stop", "stop")):
        command = commands.add_parser(
            name,
            help=f"{verb} executions or deployments",
            description=f"{verb.capitalize()} executions or deployments by ID or by selection.",
        )
        command.set_defaults(target="DELETED" if name == "delete" else "STOPPED", dry_run=False)
        _add_run_options(command, deleting=name == "delete")

    resume = commands.add_parser(
        "resume",
        help="finish a run from its --journal (after a kill, a crash or Ctrl-C)",
        description="Finish the run a journal records: items it confirmed are kept as they "
        "are and never sent again; every other item's status is read afresh and the run goes "
        "on from there. Kind, target and resource group come from the journal.",
    )
    resume.add_argument("journal", metavar="JOURNAL", help="the journal of the run to finish")
    resume.set_defaults(dry_run=False)
    _add_connection_options(resume)
    _add_limit_options(resume)
    _add_output_options(resume)

    plan = commands.add_parser(
        "plan",
        help="say what a run would do, changing nothing (same as --dry-run)",
        description="A dry run: read statuses and print the plan; nothing is changed.",
    )
    plan.add_argument("action", choices=("delete", "stop"), help="the run to plan")
    plan.set_defaults(dry_run=True)
    _add_run_options(plan, deleting=False, planning=True)

    simulate = commands.add_parser(
        "simulate",
        help="serve a simulated AI API on loopback",
        description="Serve a simulated AI API until Ctrl-C or SIGTERM. It prints the "
        "AICORE_* settings a client needs as export lines a shell takes as they are.",
        epilog='eval "$(aicore-bulk simulate --print-env --port 0 &)" starts it in the '
        "background and sets the settings in the current shell (see docs/simulator.md).",
    )
    simulate.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    simulate.add_argument(
        "--port",
        type=t.port,
        default=8080,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    simulate.add_argument(
        "--print-env",
        action="store_true",
        help="print only the 'export AICORE_...=...' lines once listening, then serve on "
        "with stdout closed, so that $(...) with '&' returns while the server runs",
    )
    add_simulator_options(simulate)

    demo = commands.add_parser(
        "demo",
        help="the main job: a real cleanup on the embedded simulator",
        description="Seed the embedded simulator with a realistic tenant and clean it up, "
        "through the same code path as a production run (no AI Core account needed).",
    )
    demo.add_argument("--items", type=t.count, default=20_000, help="executions to seed")
    demo.add_argument("--seed", type=int, default=0, help="seed for the workload")
    demo.add_argument("--no-progress", action="store_true", help="no progress display")
    return parser


def _add_run_options(
    parser: argparse.ArgumentParser, *, deleting: bool, planning: bool = False
) -> None:
    parser.add_argument("kind", choices=KINDS, help="what to act on")
    parser.add_argument("ids", nargs="*", metavar="ID", help="IDs to act on")

    chosen = parser.add_argument_group("choosing items (IDs, a file, or a selection)")
    chosen.add_argument(
        "--ids-file",
        metavar="PATH",
        help="one ID per line; - for stdin; blank lines and # comments ignored",
    )
    chosen.add_argument(
        "--status",
        action="append",
        type=_status,
        default=[],
        metavar="S",
        help="select items in this status (repeatable)",
    )
    chosen.add_argument("--scenario-id", metavar="ID", help="select items of this scenario")
    chosen.add_argument(
        "--executable-id",
        action="append",
        default=[],
        metavar="ID",
        help="select items of this executable (repeatable)",
    )
    chosen.add_argument(
        "--configuration-id", metavar="ID", help="select items of this configuration"
    )
    chosen.add_argument(
        "--older-than",
        type=t.duration,
        metavar="DURATION",
        help="select items older than this (7d, 12h, 30m, 1d12h)",
    )
    chosen.add_argument(
        "--age-field",
        choices=("created", "completion"),
        default="created",
        help="what --older-than measures: createdAt or completionTime",
    )
    chosen.add_argument(
        "--keep-latest",
        type=t.keep,
        metavar="N",
        help="of what the other filters select, keep (do not change) the N newest by "
        "createdAt of each configuration (or --keep-latest-per key)",
    )
    chosen.add_argument(
        "--keep-latest-per",
        choices=("configuration", "scenario", "executable"),
        help="what --keep-latest counts the newest of (default: configuration)",
    )
    chosen.add_argument(
        "--all",
        action="store_true",
        dest="select_all",
        help="select every item of the kind in the resource group",
    )
    groups = parser.add_argument_group(
        "resource groups (default: the one configured; several take a selection, not IDs)"
    )
    groups.add_argument(
        "--all-resource-groups",
        action="store_true",
        help="run in every resource group of the tenant (listing them needs the admin scope)",
    )
    groups.add_argument(
        "--resource-group-label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --all-resource-groups: only groups with this label (KEY!=VALUE: without "
        "it); repeatable, all must hold",
    )
    _add_connection_options(parser, several_groups=True)
    # Only a delete waits for STOPPING, and a dry run has no deadline: those flags are taken
    # (a script may pass them to every command) but not shown where they do nothing.
    _add_limit_options(parser, waits=deleting, deadline=not planning)

    safety = parser.add_argument_group("safety")
    if not planning:
        safety.add_argument("--dry-run", action="store_true", help="print the plan; send no change")
        safety.add_argument(
            "--yes",
            "-y",
            action="store_true",
            help=f"do not ask before {'deleting' if deleting else 'stopping'} more than 100 items",
        )
        safety.add_argument(
            "--journal",
            metavar="PATH",
            help="record every item's fate in this new file, so that 'aicore-bulk resume "
            "PATH' can finish the run after a kill or a crash",
        )
    safety.add_argument(
        "--include-running",
        action="store_true",
        help="also stop PENDING and RUNNING deployments (they serve traffic; without this "
        "flag they are skipped); executions need no flag",
    )
    safety.add_argument(
        "--max-items",
        type=t.count,
        metavar="N",
        help="exit 3 if the run would change more than N items (as the run would refuse)"
        if planning
        else "refuse the run if it would change more than N items",
    )
    if deleting:
        safety.add_argument(
            "--wait",
            type=t.seconds,
            nargs="?",
            const=300.0,
            metavar="SECONDS",
            help="wait until deleted items are gone (404); default 300 s",
        )
    _add_output_options(parser, planning=planning)


def _add_connection_options(
    parser: argparse.ArgumentParser, *, several_groups: bool = False
) -> None:
    connection = parser.add_argument_group("connection (default: AICORE_* and ~/.aicore)")
    connection.add_argument("--base-url", metavar="URL", help="AI API URL (AICORE_BASE_URL)")
    connection.add_argument("--auth-url", metavar="URL", help="token URL (AICORE_AUTH_URL)")
    connection.add_argument("--client-id", metavar="ID", help="OAuth client id")
    connection.add_argument(
        "--client-secret-file", metavar="PATH", help="read the client secret from this file"
    )
    connection.add_argument(
        "--client-secret", nargs="?", action=_NoPlainSecret, help=argparse.SUPPRESS
    )
    connection.add_argument(
        "--resource-group",
        action="append" if several_groups else "store",
        metavar="ID",
        help="AI-Resource-Group (repeatable: one run in each)"
        if several_groups
        else "AI-Resource-Group",
    )
    connection.add_argument("--profile", metavar="NAME", help="~/.aicore/config_NAME.json")
    connection.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow http:// to hosts other than loopback (not advised)",
    )


def _add_limit_options(
    parser: argparse.ArgumentParser, *, waits: bool = True, deadline: bool = True
) -> None:
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--concurrency",
        type=t.positive,
        default=64,
        metavar="N",
        help="requests in flight at once at most; the window adapts below it (default 64)",
    )
    limits.add_argument(
        "--rate", type=t.rate, metavar="REQ_PER_S", help="at most this many requests per second"
    )
    limits.add_argument(
        "--retries", type=t.count, default=5, metavar="N", help="retries per request (default 5)"
    )
    limits.add_argument(
        "--timeout", type=t.rate, default=30.0, metavar="SECONDS", help="per request (default 30)"
    )
    limits.add_argument(
        "--deadline",
        type=t.rate,
        metavar="SECONDS",
        help="for the whole run" if deadline else argparse.SUPPRESS,
    )
    limits.add_argument(
        "--stop-wait",
        type=t.seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long a stopped item may stay STOPPING (default 600)"
        if waits
        else argparse.SUPPRESS,
    )
    limits.add_argument(
        "--poll-interval",
        type=t.rate,
        default=2.0,
        metavar="SECONDS",
        help="how often to look at STOPPING items (default 2)" if waits else argparse.SUPPRESS,
    )
    limits.add_argument(
        "--no-remember",
        dest="remember",
        action="store_false",
        help="neither start from the rate limit earlier runs learned nor keep what this run "
        "learns (kept in $XDG_CACHE_HOME/aicore-bulk/limits.json)",
    )


def _add_output_options(parser: argparse.ArgumentParser, *, planning: bool = False) -> None:
    output = parser.add_argument_group("output")
    what = "the plan's JSON" if planning else "the JSON report"
    output.add_argument(
        "--output",
        "-o",
        choices=("table", "json", "ndjson"),
        default="table",
        help=f"table (default), {what}, or one JSON line per item",
    )
    output.add_argument("--report", metavar="PATH", help=f"also write {what} here")
    output.add_argument("--no-progress", action="store_true", help="no progress display")
    output.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    output.add_argument(
        "--verbose",
        "-v",
        action="count",
        default=0,
        help="log more to stderr (-v: phases, -vv: every request, saying what it changes); "
        "warnings are always logged",
    )
    output.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log records as text (default) or as one JSON object per line",
    )


def _status(text: str) -> Status:
    try:
        return Status(text.upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a status: use one of {', '.join(Status)}"
        ) from None


def add_simulator_options(parser: argparse.ArgumentParser) -> None:
    """The simulator's knobs, shared by ``simulate``; every help shows the default."""
    seeding = parser.add_argument_group("seeding")
    seeding.add_argument(
        "--seed-executions",
        type=t.count,
        default=0,
        metavar="N",
        help="executions to seed in each resource group (default: %(default)s)",
    )
    seeding.add_argument(
        "--seed-deployments",
        type=t.count,
        default=0,
        metavar="N",
        help="deployments to seed in each resource group (default: %(default)s)",
    )
    seeding.add_argument(
        "--resource-group",
        action="append",
        type=t.resource_group,
        metavar="ID[:KEY=VALUE,...]",
        help="the tenant's resource groups, each seeded, with labels such as "
        "ext.ai.sap.com/team=ml; the first is AICORE_RESOURCE_GROUP (repeatable; "
        "default: default)",
    )
    seeding.add_argument(
        "--status-mix",
        type=t.status_mix,
        metavar="S=W,...",
        help="status weights, e.g. COMPLETED=0.8,RUNNING=0.2 (default: a used tenant's mix, "
        "55%% COMPLETED, 15%% DEAD, 10%% STOPPED, 12%% RUNNING, 3%% PENDING, 3%% STOPPING, "
        "2%% UNKNOWN)",
    )
    seeding.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds IDs, statuses, ages and faults (default: %(default)s)",
    )

    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument("--no-auth", action="store_true", help="accept requests without tokens")
    behaviour.add_argument(
        "--no-admin-scope",
        action="store_true",
        help="issue tokens without the admin scope: listing resource groups answers 403",
    )
    behaviour.add_argument(
        "--token-lifetime",
        type=t.rate,
        default=3600.0,
        metavar="S",
        help="seconds a token is valid (default: %(default)g)",
    )
    behaviour.add_argument(
        "--stop-delay",
        type=t.seconds,
        default=5.0,
        metavar="S",
        help="seconds a stopped item stays STOPPING (default: %(default)g)",
    )
    behaviour.add_argument(
        "--delete-linger",
        type=t.seconds,
        default=60.0,
        metavar="S",
        help="seconds a deleted item stays listed (default: %(default)g)",
    )
    behaviour.add_argument(
        "--no-bulk",
        choices=KINDS,
        action="append",
        default=[],
        help="switch the bulk PATCH off for this kind (repeatable; default: on for both)",
    )
    behaviour.add_argument(
        "--shuffle-answers", action="store_true", help="answer bulk changes in random order"
    )
    behaviour.add_argument(
        "--conflict-status",
        type=int,
        choices=(400, 412),
        default=412,
        help="HTTP status of a refused single stop or delete (default: %(default)s)",
    )
    behaviour.add_argument(
        "--capacity",
        type=t.positive,
        default=None,
        metavar="N",
        help="serve at most N AI API requests at once, queue the rest in arrival order "
        "(default: unlimited)",
    )

    lifecycle = parser.add_argument_group("items that change by themselves")
    lifecycle.add_argument(
        "--complete-rate",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="share of seeded PENDING and RUNNING executions that complete (default: %(default)g)",
    )
    lifecycle.add_argument(
        "--die-rate",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="share of seeded PENDING and RUNNING items that die (default: %(default)g)",
    )
    lifecycle.add_argument(
        "--stopped-by-others-rate",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="share of them that somebody else stops (default: %(default)g)",
    )
    lifecycle.add_argument(
        "--change-within",
        type=t.rate,
        default=60.0,
        metavar="S",
        help="they change within this many seconds of seeding (default: %(default)g)",
    )

    faults = parser.add_argument_group("faults (P: a probability per /v2 request)")
    faults.add_argument(
        "--latency",
        type=t.seconds,
        default=0.0,
        metavar="S",
        help="seconds added to every request (default: %(default)g)",
    )
    faults.add_argument(
        "--latency-jitter",
        type=t.seconds,
        default=0.0,
        metavar="S",
        help="up to this many seconds more, at random (default: %(default)g)",
    )
    faults.add_argument(
        "--rate-limit",
        type=t.rate,
        default=None,
        metavar="REQ_PER_S",
        help="answer 429 with Retry-After above this rate (default: no limit)",
    )
    faults.add_argument(
        "--rate-burst",
        type=t.positive,
        default=10,
        metavar="N",
        help="requests the rate limit lets through at once (default: %(default)s)",
    )
    faults.add_argument(
        "--retry-after",
        choices=("seconds", "http-date"),
        default="seconds",
        help="the form of Retry-After (default: %(default)s)",
    )
    faults.add_argument(
        "--throttle-burst-every",
        type=t.rate,
        default=None,
        metavar="S",
        help="answer 429 to everything for --throttle-burst-length seconds out of every S "
        "(default: never)",
    )
    faults.add_argument(
        "--throttle-burst-length",
        type=t.seconds,
        default=0.0,
        metavar="S",
        help="how long each such burst lasts (default: %(default)g)",
    )
    faults.add_argument(
        "--server-errors",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="answer 500, 502, 503 or 504 (default: %(default)g)",
    )
    faults.add_argument(
        "--unavailable",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="answer 503 with Retry-After (default: %(default)g)",
    )
    faults.add_argument(
        "--unavailable-retry-after",
        type=t.seconds,
        default=1.0,
        metavar="S",
        help="the Retry-After of those 503s (default: %(default)g)",
    )
    faults.add_argument(
        "--dropped-connections",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="close the connection with no answer, half of the time after the change "
        "(default: %(default)g)",
    )
    faults.add_argument(
        "--truncated-bodies",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="cut a successful change's answer in half (default: %(default)g)",
    )
    faults.add_argument(
        "--malformed-bodies",
        type=t.fraction,
        default=0.0,
        metavar="P",
        help="answer a successful change with an HTML page (default: %(default)g)",
    )
