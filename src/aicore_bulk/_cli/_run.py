"""``aicore-bulk delete``, ``stop``, ``plan``, ``resume``: arguments in; report, exit code out."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import anyio

from aicore_bulk import (
    BulkClient,
    BulkError,
    Event,
    InputError,
    Limits,
    Plan,
    Report,
    RequestAnswered,
    RetryPolicy,
    RunDeclinedError,
    RunOptions,
    Selection,
    Target,
    read_journal,
)
from aicore_bulk._cli._exit import (
    EXIT_INTERRUPTED,
    EXIT_ITEMS,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    fail,
)
from aicore_bulk._cli._inputs import ids_from
from aicore_bulk._cli._progress import Progress
from aicore_bulk._cli._render import plan_table, summary

#: Deleting more than this many items asks first, in a terminal.
CONFIRM_ABOVE = 100
_CHANGING_PATHS = ("delete", "stop", "stop_then_delete", "wait_then_delete")


async def run(args: argparse.Namespace) -> int:
    """Run ``delete``, ``stop``, ``plan`` or ``resume``; returns the exit code."""
    _configure_logging(args)
    if args.command == "resume":
        return await _resume(args)
    target = _target(args)
    try:
        ids_source = _source(args)
        client = _client(args)
    except BulkError as error:
        return fail(str(error), EXIT_USAGE)
    async with client:
        return await run_with(client, args, target=target, ids_source=ids_source)


async def _resume(args: argparse.Namespace) -> int:
    """Finish a journaled run, in the resource group the journal names (unless told another)."""
    try:
        run = read_journal(args.journal)
        client = _client(args, resource_group=run.resource_group)
    except BulkError as error:
        return fail(str(error), EXIT_USAGE)
    progress, human = _progress(args, f"resuming {run.kind}", changes=True)
    async with client:
        try:
            with _interruptible() as interrupt:
                report = await client.resume(
                    args.journal, deadline=args.deadline, listener=progress, interrupt=interrupt
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
    )
    return progress, human


async def run_with(
    client: BulkClient,
    args: argparse.Namespace,
    *,
    target: Target,
    ids_source: Iterable[str] | Selection,
    resource_group: str | None = None,
) -> int:
    """The run itself, on a ready client (the demo reuses it)."""
    group = resource_group or client.resource_group
    kind = args.kind
    ids = client.select(kind, ids_source) if isinstance(ids_source, Selection) else ids_source
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
        with _interruptible() as interrupt:
            report = await run_call(
                kind,
                ids,
                deadline=args.deadline,
                listener=listen,
                interrupt=interrupt,
                confirm=lambda plan: _confirm(plan, args, group=group),
                journal=getattr(args, "journal", None),
                include_running=args.include_running,
            )
        progress.close()
    except RunDeclinedError as error:
        progress.close()
        return fail(str(error), EXIT_REFUSED)
    except BulkError as error:
        progress.close()
        return fail(f"{error} (nothing was changed)", EXIT_USAGE)
    still_listed = await _wait_gone(client, args, report)
    return _finish(report, args, group=group, human=human, still_listed=still_listed)


@contextlib.contextmanager
def _interruptible() -> Iterator[anyio.Event]:
    """SIGINT/SIGTERM set the returned event: the run stops sending and reports what it knows.

    A second signal cancels the run at once.
    """
    interrupt = anyio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if interrupt.is_set():
            if task is not None:
                task.cancel()
            return
        print(  # noqa: T201
            "\naicore-bulk: interrupted: sending nothing more, waiting briefly for requests in "
            "flight (again to quit at once)",
            file=sys.stderr,
        )
        interrupt.set()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on POSIX
            pass
    try:
        yield interrupt
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _source(args: argparse.Namespace) -> Iterable[str] | Selection:
    if args.dry_run and getattr(args, "journal", None):
        raise InputError("--journal records a run's changes and a dry run makes none: drop one")
    selection = Selection(
        statuses=tuple(args.status),
        scenario_id=args.scenario_id,
        executable_ids=tuple(args.executable_id),
        configuration_id=args.configuration_id,
        older_than=args.older_than,
        age_field=args.age_field,
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
            "--executable-id, --configuration-id, --older-than), or --all"
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
        "resource_group": args.resource_group or resource_group,
        "allow_insecure_http": args.allow_insecure_http,
    }
    return BulkClient.from_env(
        profile=args.profile,
        limits=Limits(concurrency=args.concurrency, rate=args.rate),
        retry=RetryPolicy(attempts=args.retries + 1, request_timeout=args.timeout),
        options=RunOptions(stop_wait=args.stop_wait, poll_interval=args.poll_interval),
        **{name: value for name, value in settings.items() if value},
    )


def _target(args: argparse.Namespace) -> Target:
    if args.command == "plan":
        return Target.DELETED if args.action == "delete" else Target.STOPPED
    return Target(args.target)


async def _confirm(plan: Plan, args: argparse.Namespace, *, group: str) -> bool:
    changing = sum(plan.paths.get(path, 0) for path in _CHANGING_PATHS)
    if args.max_items is not None and changing > args.max_items:
        print(  # noqa: T201
            f"aicore-bulk: refusing: the run would change {changing:,} {plan.kind}, "
            f"more than --max-items {args.max_items:,}",
            file=sys.stderr,
        )
        return False
    asks = (
        plan.target.value == "DELETED"
        and changing > CONFIRM_ABOVE
        and not args.yes
        and sys.stdin.isatty()
        and sys.stderr.isatty()
    )
    if not asks:
        return True
    deleting = plan.paths.get("deleting", 0)
    question = (
        f"\nDelete {changing:,} {plan.kind} in resource group {group}? "
        + (f"({deleting:,} already being deleted are left alone.) " if deleting else "")
        + "This cannot be undone. [y/N] "
    )
    answer = await anyio.to_thread.run_sync(_ask, question)
    return answer.strip().lower() in {"y", "yes"}


def _ask(question: str) -> str:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        return sys.stdin.readline()
    except (OSError, ValueError):
        return ""


async def _wait_gone(client: BulkClient, args: argparse.Namespace, report: Report) -> int:
    if not getattr(args, "wait", None):
        return 0
    deleted = [item.id for item in report.items if item.outcome.value == "deleted"]
    left = await client.wait_gone(args.kind, deleted, within=args.wait)
    return len(left)


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
        print(json.dumps(data, indent=2))  # noqa: T201
    elif args.output == "ndjson":
        for item in data["items"]:
            print(json.dumps(item))  # noqa: T201
    if args.report:
        _write_json(args.report, data)
    if not args.quiet:
        table = plan_table(
            plan,
            resource_group=group,
            concurrency=args.concurrency,
            rate=args.rate,
            seconds_per_request=latency,
        )
        print(table, file=human)
    changing = sum(plan.paths.get(path, 0) for path in _CHANGING_PATHS)
    if args.max_items is not None and changing > args.max_items:
        return fail(
            f"the run would change {changing:,} items, more than --max-items {args.max_items:,}",
            EXIT_REFUSED,
        )
    return EXIT_OK


def _finish(
    report: Report,
    args: argparse.Namespace,
    *,
    group: str,
    human: TextIO,
    still_listed: int,
) -> int:
    data = report.to_json()
    if still_listed:
        data["summary"]["still_listed_after_wait"] = still_listed
    if args.output == "json":
        print(json.dumps(data, indent=2))  # noqa: T201
    if args.report:
        _write_json(args.report, data)
    if not args.quiet:
        print(summary(report, resource_group=group), file=human)
        if still_listed:
            print(
                f"{still_listed:,} deleted items were still listed when --wait ran out",
                file=human,
            )
    if report.summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok and not still_listed else EXIT_ITEMS


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees half a report."""
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".report-")
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2)
        file.write("\n")
    Path(temporary).replace(target)


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
    if not args.verbose:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("aicore_bulk")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if args.verbose > 1 else logging.INFO)
