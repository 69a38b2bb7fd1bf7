"""``aicore-bulk delete``, ``stop``, ``plan``, ``resume``: arguments in; report, exit code out."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import anyio

from aicore_bulk import (
    BulkClient,
    BulkError,
    Event,
    GroupSelection,
    InputError,
    Kind,
    LabelMatch,
    Limits,
    Plan,
    Report,
    RequestAnswered,
    ResourceGroups,
    RetryPolicy,
    Route,
    RunDeclinedError,
    RunOptions,
    Selection,
    Target,
    read_journal,
)
from aicore_bulk._cli import _logs
from aicore_bulk._cli._exit import (
    EXIT_INTERRUPTED,
    EXIT_ITEMS,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    fail,
)
from aicore_bulk._cli._inputs import ids_from
from aicore_bulk._cli._outputs import check_report_path, write_report
from aicore_bulk._cli._progress import Progress
from aicore_bulk._cli._prompt import Signals, ask
from aicore_bulk._cli._render import plan_table, summary, where
from aicore_bulk._cli._streams import say
from aicore_bulk._cli._wait import wait_gone

#: Deleting or stopping more than this many items asks first, in a terminal.
CONFIRM_ABOVE = 100
_CHANGING_PATHS = (Route.DELETE, Route.STOP, Route.STOP_THEN_DELETE, Route.WAIT_THEN_DELETE)


class _Ended(Exception):  # noqa: N818 - not an error: the run ends before its first change
    """The confirmation ended the run before any change: refused, or interrupted."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


async def run(args: argparse.Namespace) -> int:
    """Run ``delete``, ``stop``, ``plan`` or ``resume``; returns the exit code."""
    _configure_logging(args)
    if args.command == "resume":
        return await _resume(args)
    target = _target(args)
    try:
        check_report_path(args.report)
        groups = _groups(args)
        ids_source = _source(args)
        # A run across groups works in the groups it names: the client's own is not used.
        client = _client(args, resource_group="default" if groups else None)
    except BulkError as error:
        return fail(str(error), EXIT_USAGE)
    async with client:
        return await run_with(
            client,
            args,
            target=target,
            ids_source=ids_source,
            labels=_labels(args),
            groups=groups,
        )


async def _resume(args: argparse.Namespace) -> int:
    """Finish a journaled run, in the resource group the journal names (unless told another)."""
    try:
        check_report_path(args.report)
        run = read_journal(args.journal)
        client = _client(args, resource_group=run.resource_groups[0])
    except BulkError as error:
        return fail(str(error), EXIT_USAGE)
    progress, human = _progress(args, f"resuming {run.kind}", changes=True)
    progress.start()  # a resume asks nothing: it finishes what was confirmed before
    async with client:
        try:
            with _interruptible(progress) as signals:
                report = await client.resume(
                    args.journal,
                    deadline=args.deadline,
                    listener=progress,
                    interrupt=signals.event,
                    labels={"command": "resume"},
                )
        except BulkError as error:
            return fail(f"{error} (nothing was changed)", EXIT_USAGE)
        finally:
            progress.close()
    return _finish(report, args, group=client.resource_group, human=human, still_listed=0)


def _progress(args: argparse.Namespace, label: str, *, changes: bool) -> tuple[Progress, TextIO]:
    """The progress display of a run, and where human-readable output goes."""
    human = sys.stdout if args.output == "table" else sys.stderr
    stream = None if args.quiet or args.no_progress else sys.stderr
    progress = Progress(
        stream=stream,
        bar=bool(stream and stream.isatty()),
        verb=label,
        items_out=sys.stdout if args.output == "ndjson" and changes else None,
        concurrency=args.concurrency,
    )
    if progress.bar:
        _logs.show_above(progress)
    return progress, human


async def run_with(
    client: BulkClient,
    args: argparse.Namespace,
    *,
    target: Target,
    ids_source: Iterable[str] | Selection,
    resource_group: str | None = None,
    labels: Mapping[str, str] | None = None,
    groups: ResourceGroups | None = None,
) -> int:
    """The run itself, on a ready client (the demo reuses it)."""
    group = resource_group or client.resource_group
    kind = args.kind
    ids = _chosen(client, kind, ids_source, groups)
    verb = "planning" if args.dry_run else ("deleting" if target is Target.DELETED else "stopping")
    progress, human = _progress(args, f"{verb} {kind}", changes=not args.dry_run)
    latency = _Latency()

    def listen(event: Event) -> None:
        progress(event)
        latency(event)

    try:
        if args.dry_run:
            plan = await client.plan(
                kind, ids, target=target, listener=listen, include_running=args.include_running
            )
            progress.close()
            return _print_plan(plan, args, group=group, latency=latency.mean, human=human)
        run_call = client.delete if target is Target.DELETED else client.stop
        with _interruptible(progress) as signals:
            report = await run_call(
                kind,
                ids,
                deadline=args.deadline,
                listener=listen,
                interrupt=signals.event,
                confirm=lambda plan: _confirm(
                    plan, args, group=group, signals=signals, progress=progress
                ),
                journal=getattr(args, "journal", None),
                labels=labels,
                include_running=args.include_running,
            )
        progress.close()
    except _Ended as ended:
        progress.close()
        say(f"aicore-bulk: {ended}", sys.stderr)
        return ended.code
    except RunDeclinedError as error:
        progress.close()
        return fail(str(error), EXIT_REFUSED)
    except BulkError as error:
        progress.close()
        return fail(f"{error} (nothing was changed)", EXIT_USAGE)
    still_listed, waited_out = await _wait_gone(client, args, report)
    return _finish(
        report,
        args,
        group=group,
        human=human,
        still_listed=still_listed,
        interrupted=waited_out,
    )


@contextlib.contextmanager
def _interruptible(progress: Progress | None = None) -> Iterator[Signals]:
    """SIGINT/SIGTERM set the event: the run stops sending and reports what it knows.

    A second signal cancels the run at once. At the confirmation prompt, the first signal
    ends the run at once, before anything is sent (the prompt says so).
    """
    signals = Signals(anyio.Event())
    interrupt = signals.event
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if interrupt.is_set():
            if task is not None:
                task.cancel()
            return
        interrupt.set()
        if signals.quiet:
            return
        if progress is not None:
            progress.interrupted()
        say(
            "\naicore-bulk: interrupted: sending nothing more, waiting briefly for requests in "
            "flight (again to quit at once)",
            sys.stderr,
        )

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on POSIX
            pass
    try:
        yield signals
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _chosen(
    client: BulkClient, kind: Kind, source: Iterable[str] | Selection, groups: ResourceGroups | None
) -> Iterable[str] | AsyncIterator[str] | GroupSelection:
    """What the run takes: IDs, the client's selection, or a selection across groups."""
    if not isinstance(source, Selection):
        return source
    if groups is not None:
        return client.select(kind, source, resource_groups=groups)
    return client.select(kind, source)


def _groups(args: argparse.Namespace) -> ResourceGroups | None:
    """The resource groups of a run across groups (None: a run in one group)."""
    named: list[str] = args.resource_group or []
    if args.all_resource_groups and named:
        raise InputError(
            "--all-resource-groups takes every group: drop --resource-group (narrow the "
            "choice with --resource-group-label)"
        )
    labels = []
    for text in args.resource_group_label:
        try:
            labels.append(LabelMatch.parse(text))
        except InputError as error:
            raise InputError(f"--resource-group-label: {error}") from None
    if labels and not args.all_resource_groups:
        raise InputError("--resource-group-label narrows --all-resource-groups: add it")
    if not args.all_resource_groups and len(set(named)) < 2:  # noqa: PLR2004
        return None
    if args.ids or args.ids_file:
        raise InputError(
            "IDs belong to one resource group: give one --resource-group, or choose the items "
            "of several groups with a selection (--status, ..., or --all)"
        )
    if getattr(args, "wait", None):
        raise InputError("--wait follows the items of one resource group: drop it")
    if any(not name or any(ch.isspace() for ch in name) for name in named):
        raise InputError("--resource-group contains whitespace")
    if args.all_resource_groups:
        return ResourceGroups.all(labels=labels)
    return ResourceGroups(names=tuple(named))


def _source(args: argparse.Namespace) -> Iterable[str] | Selection:
    if args.dry_run and getattr(args, "journal", None):
        raise InputError("--journal records a run's changes and a dry run makes none: drop one")
    if args.keep_latest_per and args.keep_latest is None:
        raise InputError("--keep-latest-per needs --keep-latest")
    selection = Selection(
        statuses=tuple(args.status),
        scenario_id=args.scenario_id,
        executable_ids=tuple(args.executable_id),
        configuration_id=args.configuration_id,
        older_than=args.older_than,
        age_field=args.age_field,
        keep_latest=args.keep_latest,
        **({"keep_latest_per": args.keep_latest_per} if args.keep_latest_per else {}),
    )
    given = bool(args.ids or args.ids_file)
    if given and (not selection.filters_nothing or args.select_all):
        raise InputError("give IDs (arguments or --ids-file) or a selection, not both")
    if args.select_all and not selection.filters_nothing:
        raise InputError("--all selects every item: drop it or drop the filters")
    if given:
        return ids_from(args.ids, args.ids_file)
    if selection.filters_nothing and not args.select_all:
        raise InputError(
            "no items: give IDs, --ids-file, a selection (--status, --scenario-id, "
            "--executable-id, --configuration-id, --older-than, --keep-latest), or --all"
        )
    if args.age_field == "completion" and args.older_than is None:
        raise InputError("--age-field needs --older-than")
    return selection


def _client(args: argparse.Namespace, *, resource_group: str | None = None) -> BulkClient:
    if args.quiet and args.verbose:
        raise InputError("--quiet and --verbose contradict each other")
    secret = None
    if args.client_secret_file:
        try:
            secret = Path(args.client_secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            message = getattr(error, "strerror", None) or "not readable text"
            raise InputError(f"cannot read {args.client_secret_file}: {message}") from None
    settings: dict[str, Any] = {
        "base_url": args.base_url,
        "auth_url": args.auth_url,
        "client_id": args.client_id,
        "client_secret": secret,
        # Repeatable for a run: the first group (several make a run across groups).
        "resource_group": _first(args.resource_group) or resource_group,
        "allow_insecure_http": args.allow_insecure_http,
    }
    return BulkClient.from_env(
        profile=args.profile,
        limits=Limits(concurrency=args.concurrency, rate=args.rate, remember=args.remember),
        retry=RetryPolicy(attempts=args.retries + 1, request_timeout=args.timeout),
        options=RunOptions(stop_wait=args.stop_wait, poll_interval=args.poll_interval),
        **{name: value for name, value in settings.items() if value},
    )


def _first(named: str | list[str] | None) -> str | None:
    if isinstance(named, list):
        return named[0] if named else None
    return named


def _target(args: argparse.Namespace) -> Target:
    if args.command == "plan":
        return Target.DELETED if args.action == "delete" else Target.STOPPED
    return Target(args.target)


async def _confirm(
    plan: Plan, args: argparse.Namespace, *, group: str, signals: Signals, progress: Progress
) -> bool:
    """Refuse (``--max-items``), ask (a terminal), or go; the progress display starts on go.

    Raises:
        _Ended: Refused by ``--max-items``, or interrupted before or at the prompt.
    """
    changing = sum(plan.paths[route] for route in _CHANGING_PATHS)
    if signals.event.is_set():
        # Interrupted while statuses were read: nothing has been sent yet, so stop here.
        raise _Ended("interrupted before the first change: nothing was changed", EXIT_INTERRUPTED)
    refusal = _over_max_items(changing, plan.kind, args.max_items)
    if refusal:
        raise _Ended(f"refused: {refusal}; no change was sent", EXIT_REFUSED)
    asks = changing > CONFIRM_ABOVE and not args.yes and sys.stdin.isatty() and sys.stderr.isatty()
    if asks:
        answer = await ask(_question(plan, changing, group=group), signals)
        if answer is None:
            raise _Ended("interrupted at the prompt: nothing was changed", EXIT_INTERRUPTED)
        if answer.strip().lower() not in {"y", "yes"}:
            return False
    progress.start()
    return True


def _question(plan: Plan, changing: int, *, group: str) -> str:
    """The confirmation: what will change, where, and what must stop first."""
    if plan.target.value == "STOPPED":
        return f"\nStop {_count(changing, plan.kind)} in {where(plan.groups, group)}? [y/N] "
    running = plan.paths[Route.STOP_THEN_DELETE]
    first = ""
    if running:
        are = "is" if running == 1 else "are"
        first = f" ({running:,} {are} running or pending and will be stopped first)"
    deleting = plan.paths[Route.DELETING]
    if deleting:
        first += f" ({deleting:,} already being deleted are left alone)"
    return (
        f"\nDelete {_count(changing, plan.kind)}{first} in {where(plan.groups, group)}? "
        "This cannot be undone. [y/N] "
    )


def _count(n: int, kind: str) -> str:
    """``1 execution``, ``1,200 executions``."""
    return f"{n:,} {kind[:-1] if n == 1 else kind}"


def _over_max_items(changing: int, kind: str, max_items: int | None) -> str | None:
    """Why ``--max-items`` refuses the run, or None."""
    if max_items is None or changing <= max_items:
        return None
    return f"{_count(changing, kind)} would change, more than --max-items {max_items}"


async def _wait_gone(
    client: BulkClient, args: argparse.Namespace, report: Report
) -> tuple[int, bool]:
    """``--wait``: deleted items still listed when it ran out, and whether it was interrupted."""
    if not getattr(args, "wait", None) or report.summary.interrupted:
        return 0, False
    deleted = [item.id for item in report.items if item.outcome.value == "deleted"]
    stream = None if args.quiet or args.no_progress else sys.stderr
    with _interruptible() as signals:
        signals.quiet = True  # the wait says itself that it was interrupted
        left = await wait_gone(
            client,
            args.kind,
            deleted,
            within=args.wait,
            poll_interval=args.poll_interval,
            stream=stream,
            interrupt=signals.event,
        )
    return len(left), signals.event.is_set()


def _print_plan(
    plan: Plan,
    args: argparse.Namespace,
    *,
    group: str,
    latency: float,
    human: TextIO,
) -> int:
    data = plan.to_json()
    if args.output == "json":
        say(json.dumps(data, indent=2), sys.stdout)
    elif args.output == "ndjson":
        for item in data["items"]:
            say(json.dumps(item), sys.stdout)
    unwritten = write_report(args.report, data) if args.report else None
    if not args.quiet:
        # A run across groups: a table per group, then the total.
        parts = [*plan.groups.items()] if len(plan.groups) > 1 else []
        for name, part in [*parts, (group, plan)]:
            table = plan_table(
                part,
                resource_group=name,
                concurrency=args.concurrency,
                rate=args.rate,
                seconds_per_request=latency,
            )
            say(table, human)
    code = fail(unwritten, EXIT_ITEMS) if unwritten else EXIT_OK
    changing = sum(plan.paths[route] for route in _CHANGING_PATHS)
    refusal = _over_max_items(changing, plan.kind, args.max_items)
    if refusal:
        say(f"aicore-bulk: a run would be refused: {refusal}", sys.stderr)
        return EXIT_REFUSED
    return code


def _finish(
    report: Report,
    args: argparse.Namespace,
    *,
    group: str,
    human: TextIO,
    still_listed: int,
    interrupted: bool = False,
) -> int:
    """Print and write the report; the exit code.

    The summary is printed whatever else fails, and a report that cannot be written is one
    error line at the end (exit 1 unless the run was interrupted), never a traceback.
    """
    data = report.to_json()
    if still_listed:
        data["summary"]["still_listed_after_wait"] = still_listed
        data["summary"]["ok"] = False  # what the exit code says too
    if args.output == "json":
        say(json.dumps(data, indent=2), sys.stdout)
    unwritten = write_report(args.report, data) if args.report else None
    if not args.quiet:
        say(summary(report, resource_group=group), human)
        if still_listed:
            were = "item was" if still_listed == 1 else "items were"
            ended = "was interrupted" if interrupted else "ran out"
            say(f"{still_listed:,} deleted {were} still listed when --wait {ended}", human)
        if report.summary.interrupted:
            say(_after_interruption(report, getattr(args, "journal", None)), human)
    code = EXIT_OK if report.ok and not still_listed else EXIT_ITEMS
    if unwritten:
        code = fail(unwritten, EXIT_ITEMS)
    return EXIT_INTERRUPTED if report.summary.interrupted or interrupted else code


def _after_interruption(report: Report, journal: str | None) -> str:
    """What an interrupted run left, and how to finish it."""
    left = report.summary.total - sum(
        n for outcome, n in report.summary.outcomes.items() if outcome.ok
    )
    line = f"interrupted: {left:,} of {_count(report.summary.total, 'items')} not done"
    if journal:
        return f"{line}; to finish the run: aicore-bulk resume {journal}"
    return (
        f"{line}; run the same command again to finish (with --journal PATH next time, "
        "'aicore-bulk resume PATH' finishes an interrupted run exactly)"
    )


class _Latency:
    """The mean answer time of the run's requests, for the dry run's estimate."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RequestAnswered) and event.status is not None:
            self.total += event.seconds
            self.count += 1

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.1


def _configure_logging(args: argparse.Namespace) -> None:
    _logs.configure(
        verbose=args.verbose,
        quiet=args.quiet,
        json_lines=args.log_format == "json",
        stream=sys.stderr,
    )


def _labels(args: argparse.Namespace) -> dict[str, str]:
    """What the run's audit trail keeps of the command line: the selection, --max-items."""
    labels = {"command": args.command}
    flags = [f"--status {status.value}" for status in args.status]
    flags += [f"--scenario-id {args.scenario_id}"] if args.scenario_id else []
    flags += [f"--executable-id {executable}" for executable in args.executable_id]
    flags += [f"--configuration-id {args.configuration_id}"] if args.configuration_id else []
    if args.older_than is not None:
        flags.append(f"--older-than {_duration(args.older_than)}")
        flags += [f"--age-field {args.age_field}"] if args.age_field != "created" else []
    if args.keep_latest is not None:
        flags.append(f"--keep-latest {args.keep_latest}")
        flags += [f"--keep-latest-per {args.keep_latest_per}"] if args.keep_latest_per else []
    flags += ["--all"] if args.select_all else []
    if flags:
        labels["selection"] = " ".join(flags)
    if args.ids_file:
        labels["ids_file"] = args.ids_file
    groups = ["--all-resource-groups"] if args.all_resource_groups else []
    groups += [f"--resource-group-label {label}" for label in args.resource_group_label]
    if groups:
        labels["resource_groups"] = " ".join(groups)
    if args.max_items is not None:
        labels["max_items"] = str(args.max_items)
    if getattr(args, "include_running", False):
        labels["include_running"] = "yes"
    return labels


def _duration(seconds: float) -> str:
    """``30d``, ``1d12h``, ``90s`` -> ``1m30s``: a duration as --older-than takes it."""
    left, parts = round(seconds), []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"
