"""One run, in order, in one place.

::

    intake -> resolve -> route (plan) -> confirm -> journal -> dispatch -> report

* **intake**: distinct, checked IDs in input order (``_intake``);
* **resolve**: the token first (bad credentials fail before anything else), the bulk
  capability (once per client), the group's size, then every item's status;
* **route**: every item's route; those that need nothing are settled now;
* **confirm**: the caller may decline the :class:`~aicore_bulk.Plan`: nothing is changed;
* **journal**: written before the first change, so a kill from then on can be resumed;
* **dispatch**: the changes, under the deadline and the interruption, then one final read of
  the items still in doubt (``unknown``), which settles each by what it shows;
* **report**: every item exactly once, with the run's audit trail (:class:`RunInfo`).

:func:`execute`, :func:`dry_run` and :func:`resume` are the three ways through it.
Each gets an ID of its own, which tags its log records (see :mod:`aicore_bulk._logging`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import anyio
import attrs

from aicore_bulk._api import Api
from aicore_bulk._auth import Auth
from aicore_bulk._book import ItemBook
from aicore_bulk._caller import Caller, Failure
from aicore_bulk._clock import Clock
from aicore_bulk._dispatcher import Dispatcher
from aicore_bulk._errors import BulkError, InputError, RunDeclinedError
from aicore_bulk._events import Event, Listener, PhaseDone, PlanReady
from aicore_bulk._intake import Ids, intake_states, kept_of
from aicore_bulk._journal import Journal, JournalItem, RunRecord
from aicore_bulk._logging import get_logger, log, plural, run_id_set
from aicore_bulk._memory import LearnedLimits, LimitsMemory
from aicore_bulk._models import Kind, Limits, Outcome, Route, RunOptions, Seen, Target
from aicore_bulk._queue import ChangeQueue
from aicore_bulk._rate import Pacer
from aicore_bulk._reads import Read, StatusReader, still_listed
from aicore_bulk._report import (
    ItemResult,
    KeptItem,
    Plan,
    PlannedItem,
    Report,
    RunInfo,
    RunSettings,
    route_counts,
)
from aicore_bulk._retry import RetryBudget, RetryPolicy
from aicore_bulk._routing import Routed, route_items
from aicore_bulk._selection import Retention, Selection, select_statuses
from aicore_bulk._stop_wait import StopWait
from aicore_bulk._transitions import Goal, ItemState, at_final_read
from aicore_bulk._transport import Transport
from aicore_bulk._version import __version__
from aicore_bulk._window import Window

JournalPath = str | os.PathLike[str]
#: Called with the plan before the first change; False declines the run.
Confirm = Callable[[Plan], bool | Awaitable[bool]]

#: Retries a run may spend however small it is; it gets two more per 50 items.
_BASE_BUDGET: Final = 20
#: The summary of items that missed their goal names this many of them (a million would not
#: fit in a log line; the report has them all).
_IDS_LOGGED: Final = 5

_log = get_logger("run")
#: How log lines say what a run does: "planning to delete", "deleting".
_VERBS: Final = {Target.DELETED: ("delete", "deleting"), Target.STOPPED: ("stop", "stopping")}


@attrs.define(eq=False)
class Connection:
    """What every run of one client shares: where, as whom, how hard, and when."""

    base_url: str
    resource_group: str
    transport: Transport
    auth: Auth
    limits: Limits
    retry: RetryPolicy
    options: RunOptions
    clock: Clock
    #: Receives the events of every run of the client.
    listener: Listener | None
    #: Which kinds the bulk endpoint takes, read from ``/lm/meta`` by the first run.
    bulk: dict[Kind, bool] | None = None
    #: Where runs find and keep the limits learned before (``Limits.remember``).
    memory: LimitsMemory | None = None

    def caller(self, *, listener: Listener | None, items: int) -> Caller:
        """A fresh caller for one run: its own pacer, window, limiter, budget and counters.

        With a memory, the pacer and the window start from what an earlier run learned.
        """
        limits = self.limits
        pacer = Pacer(self.clock, limits.rate, adaptive=limits.adaptive)
        remembered = self.memory.recall() if self.memory is not None else None
        if remembered is not None:
            pacer.restore(remembered)
        window = Window(
            self.clock,
            limits.concurrency,
            initial=remembered.window if remembered is not None else None,
            adaptive=limits.adaptive,
        )
        return Caller(
            transport=self.transport,
            auth=self.auth,
            pacer=pacer,
            limiter=anyio.CapacityLimiter(window.size),
            retry=self.retry,
            budget=RetryBudget(_budget(self.retry, items)),
            clock=self.clock,
            window=window,
            listener=listener,
        )

    def remember(self, caller: Caller) -> None:
        """Keep what a run's caller learned for the next run (nothing without a memory)."""
        if self.memory is None:
            return
        learned = caller.pacer.learned()
        window = caller.window.size if self.limits.adaptive else None
        if learned is not None:
            self.memory.keep(attrs.evolve(learned, window=window))
        elif window is not None:
            # No 429 taught a rate, but the window found how much the service serves at once.
            self.memory.keep(
                LearnedLimits(
                    ceiling=None, burst=None, rate=None, learned_at=self.clock.time(), window=window
                )
            )

    def api(self, caller: Caller) -> Api:
        """The AI API of this client's resource group, spoken through ``caller``."""
        return Api(caller, self.base_url, self.resource_group)

    async def selected(
        self, kind: Kind, selection: Selection, retention: Retention | None = None
    ) -> AsyncIterator[tuple[str, Seen]]:
        """The items a selection takes, with the status each was listed with."""
        caller = self.caller(listener=None, items=0)
        await self.auth.token(self.transport)
        async for pair in select_statuses(
            self.api(caller),
            kind,
            selection,
            page_size=self.options.page_size,
            now=self.clock.time,
            retention=retention,
        ):
            yield pair


async def execute(
    connection: Connection,
    kind: Kind,
    ids: Ids,
    target: Target,
    *,
    deadline: float | None,
    confirm: Confirm | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
    journal: JournalPath | None,
    labels: Mapping[str, str] | None = None,
    include_running: bool = False,
) -> Report:
    """Stop or delete ``ids``: the whole run, from intake to report."""
    run_id, started_at = _new_run_id(connection.clock)
    info = RunInfo(
        id=run_id,
        tool_version=__version__,
        base_url=_without_credentials(connection.base_url),
        resource_group=connection.resource_group,
        kind=kind,
        target=target,
        started_at=started_at,
        options=_settings(connection, deadline=deadline, journal=journal, labels=labels),
    )
    with run_id_set(run_id):
        return await _execute(
            connection,
            info,
            ids,
            deadline=deadline,
            confirm=confirm,
            interrupt=interrupt,
            listener=listener,
            journal=journal,
            include_running=include_running,
        )


async def _execute(
    connection: Connection,
    info: RunInfo,
    ids: Ids,
    *,
    deadline: float | None,
    confirm: Confirm | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
    journal: JournalPath | None,
    include_running: bool,
) -> Report:
    kind, target = info.kind, info.target
    started = connection.clock.monotonic()
    if journal is not None:
        Journal.check_new(journal)
    _log_start(info, f"{_VERBS[target][1]} {kind}")
    states, duplicates, listed = await intake_states(ids, connection, kind)
    goal = Goal(kind, target, include_running)
    run = await Run.prepare(connection, goal, states, listener=listener, statuses_known=listed)
    routed = run.route()
    kept = kept_of(ids)
    if confirm is not None:
        # The time a person took to answer is no part of the run's duration.
        plan = run.plan(routed, duplicates=duplicates, kept=kept)
        started += await ask(confirm, plan, connection.clock)
    if journal is not None:
        run.book.journal = Journal.create(
            journal,
            RunRecord(
                kind=kind,
                target=target,
                resource_group=connection.resource_group,
                base_url=connection.base_url,
                duplicates=duplicates,
                plan={route.value: n for route, n in routed.counts.items()},
                run=info,
                include_running=include_running,
            ),
            states,
            (run.book.record(i) for i, state in states.items() if state.outcome),
        )
    try:
        interrupted = await run.dispatch(routed, deadline=deadline, interrupt=interrupt)
    finally:
        if run.book.journal is not None:
            run.book.journal.close()
    results = tuple(run.book.take_results())
    return run.report(
        results,
        duplicates=duplicates,
        started=started,
        interrupted=interrupted,
        info=info,
        kept=len(kept),
    )


async def ask(confirm: Confirm, plan: Plan, clock: Clock) -> float:
    """Show ``plan`` to ``confirm``; the seconds the answer took.

    Raises:
        RunDeclinedError: The plan was declined (nothing has been changed).
    """
    asked = clock.monotonic()
    verdict = confirm(plan)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if not verdict:
        raise RunDeclinedError("the run was declined; nothing was changed", plan=plan)
    return clock.monotonic() - asked


async def dry_run(
    connection: Connection,
    kind: Kind,
    ids: Ids,
    target: Target,
    *,
    listener: Listener | None,
    include_running: bool = False,
) -> Plan:
    """What :func:`execute` would do, learned by reading only."""
    run_id, _ = _new_run_id(connection.clock)
    with run_id_set(run_id):
        log(
            _log,
            logging.INFO,
            "dry run started: planning to %s %s in resource group %r",
            _VERBS[target][0],
            kind,
            connection.resource_group,
            kind=kind,
            target=target.value,
            resource_group=connection.resource_group,
        )
        states, duplicates, listed = await intake_states(ids, connection, kind)
        goal = Goal(kind, target, include_running)
        run = await Run.prepare(connection, goal, states, listener=listener, statuses_known=listed)
        return run.plan(run.route(), duplicates=duplicates, kept=kept_of(ids))


async def resume(
    connection: Connection,
    journal: JournalPath,
    *,
    deadline: float | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
    labels: Mapping[str, str] | None = None,
) -> Report:
    """Finish the run a journal recorded; items it settled for good are not sent again.

    The resume is a run of its own, with an ID of its own; its report's ``run.resumes``
    names the run that wrote the journal.
    """
    run_id, started_at = _new_run_id(connection.clock)
    with run_id_set(run_id):
        return await _resume(
            connection,
            journal,
            (run_id, started_at),
            settings=_settings(connection, deadline=deadline, journal=journal, labels=labels),
            deadline=deadline,
            interrupt=interrupt,
            listener=listener,
        )


async def _resume(
    connection: Connection,
    journal: JournalPath,
    start: tuple[str, dt.datetime],
    *,
    settings: RunSettings,
    deadline: float | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
) -> Report:
    started = connection.clock.monotonic()
    book = Journal.open(journal)
    try:
        record = book.run()
        for name, theirs, ours in (
            ("resource group", record.resource_group, connection.resource_group),
            ("service", record.base_url, connection.base_url),
        ):
            if theirs != ours:
                raise InputError(
                    f"journal {book.path} belongs to {name} {theirs!r}, this client uses {ours!r}"
                )
        recorded = book.items()
        still_open = {entry.result.id: resumed(entry) for entry in recorded if entry.open}
        info = RunInfo(
            id=start[0],
            resumes=record.run.id if record.run is not None else None,
            tool_version=__version__,
            base_url=_without_credentials(connection.base_url),
            resource_group=connection.resource_group,
            kind=record.kind,
            target=record.target,
            started_at=start[1],
            options=settings,
        )
        _log_start(
            info,
            f"{_VERBS[info.target][1]} {record.kind}",
            f", resuming run {info.resumes or '(not recorded)'}: "
            f"{plural(len(still_open), 'item')} still open, "
            f"{len(recorded) - len(still_open):,} settled earlier",
        )
        goal = Goal(record.kind, record.target, record.include_running)
        run = await Run.prepare(connection, goal, still_open, listener=listener)
        run.book.journal = book
        routed = run.route()
        run.book.write_journal()
        interrupted = await run.dispatch(routed, deadline=deadline, interrupt=interrupt)
    finally:
        book.close()
    fresh = iter(run.book.take_results())  # the open items, in the journal's order
    results = tuple(next(fresh) if entry.open else entry.result for entry in recorded)
    return run.report(
        results,
        duplicates=record.duplicates,
        started=started,
        interrupted=interrupted,
        carried_over=sum(not entry.open for entry in recorded),
        info=info,
    )


def resumed(entry: JournalItem) -> ItemState:
    """An open item of a journal, as a resume takes it up again."""
    return ItemState.resumed(
        attempts=entry.result.attempts,
        unconfirmed=entry.unconfirmed,
        delete_unsure=entry.delete_unsure,
        stopped_by_us=entry.stopped_by_us,
    )


@attrs.define(eq=False)
class Run:
    """The parts of one run of one kind in one resource group, wired together."""

    connection: Connection
    goal: Goal
    caller: Caller
    book: ItemBook
    reader: StatusReader
    dispatcher: Dispatcher

    @classmethod
    async def prepare(
        cls,
        connection: Connection,
        goal: Goal,
        states: dict[str, ItemState],
        *,
        listener: Listener | None,
        statuses_known: bool = False,
        caller: Caller | None = None,
    ) -> Run:
        """Wire a run for these items and resolve their statuses.

        ``statuses_known``: the items came from the client's own selection, with the
        statuses it listed them with moments ago; they are not listed again. ``caller``:
        one that runs in other resource groups share (see :mod:`aicore_bulk._fleet`).

        Raises:
            AuthenticationError: The credentials were refused (nothing else was sent).
            ServiceError: The statuses could not be read; nothing has been changed.
        """
        events = _fan_out(connection.listener, listener)
        if caller is None:
            caller = connection.caller(listener=events, items=len(states))
        # The token first: bad credentials fail here, before anything else is sent.
        await connection.auth.token(connection.transport)
        api = connection.api(caller)
        options = connection.options
        book = ItemBook(states, listener=events, resource_group=connection.resource_group)
        reader = StatusReader(api, goal.kind, states, options.page_size)
        bulk = await _meta_and_count(connection, api, reader, prefetch=not statuses_known)
        dispatcher = Dispatcher(
            goal=goal,
            api=api,
            book=book,
            reader=reader,
            queue=ChangeQueue(options.batch_wait),
            stop_wait=StopWait(book, reader, connection.clock, options.stop_wait),
            clock=connection.clock,
            concurrency=connection.limits.concurrency,
            budget=caller.budget,
            halt_caller=caller.halt,
            poll_interval=options.poll_interval,
            bulk=bulk[goal.kind],
        )
        run = cls(connection, goal, caller, book, reader, dispatcher)
        if states:
            await run._resolve(statuses_known=statuses_known)
        return run

    async def _resolve(self, *, statuses_known: bool) -> None:
        if not statuses_known:
            for item_id, failure in await self.reader.read_all():
                message = f"could not read its status: {failure.message}"
                self.book.settle(item_id, Outcome.FAILED, None, message)
        self.book.emit(PhaseDone("resolve"))
        log(
            _log,
            logging.INFO,
            "statuses read: %s, %s so far",
            plural(len(self.book.items), self.goal.kind.removesuffix("s")),
            plural(self.caller.counters.requests, "request"),
            items=len(self.book.items),
            requests=self.caller.counters.requests,
        )

    def route(self) -> Routed:
        """Give every item its route (see :mod:`aicore_bulk._routing`)."""
        routed = route_items(self.goal, self.book)
        ready = PlanReady(
            kind=self.goal.kind,
            target=self.goal.target,
            paths=route_counts(routed.counts),
            total=len(self.book.items),
            requests=routed.requests(batch=self.dispatcher.batch_size),
        )
        self.book.emit(ready)
        log(
            _log,
            logging.INFO,
            "plan ready: %s (%s); %s at least",
            plural(ready.total, "item"),
            ", ".join(f"{path} {n:,}" for path, n in ready.paths.items() if n) or "nothing",
            plural(ready.requests, "change request"),
            paths={route.value: n for route, n in ready.paths.items() if n},
            items=ready.total,
            requests=ready.requests,
        )
        return routed

    def plan(self, routed: Routed, *, duplicates: int, kept: tuple[KeptItem, ...] = ()) -> Plan:
        """The plan a confirmation or a dry run shows, with what the selection kept."""
        group = self.connection.resource_group
        plan = Plan(
            kind=self.goal.kind,
            target=self.goal.target,
            items=tuple(
                PlannedItem(
                    item_id,
                    state.status,
                    state.route or Route.SKIP,
                    state.message,
                    group,
                )
                for item_id, state in self.book.items.items()
            ),
            paths=route_counts(routed.counts),
            requests=routed.requests(batch=self.dispatcher.batch_size),
            reads=self.caller.counters.requests,
            duplicates=duplicates,
            kept=kept,
        )
        return attrs.evolve(plan, groups=MappingProxyType({group: plan}))

    async def dispatch(
        self, routed: Routed, *, deadline: float | None, interrupt: anyio.Event | None
    ) -> bool:
        """Send the changes under the deadline and the interrupt; True when interrupted.

        Then, unless interrupted, one final read of the items left ``unknown``, within the
        deadline (see :meth:`read_doubts`).
        """
        self.book.hold_doubts()
        try:
            return await self._dispatch(routed, deadline=deadline, interrupt=interrupt)
        finally:
            self.book.release_doubts()
            # Interrupted, cut short or broken, what the run learned holds all the same.
            self.connection.remember(self.caller)

    async def _dispatch(
        self, routed: Routed, *, deadline: float | None, interrupt: anyio.Event | None
    ) -> bool:
        clock, dispatcher = self.connection.clock, self.dispatcher
        try:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as side:
                    if deadline is not None:
                        side.start_soon(_expire, clock, deadline, scope)
                    if interrupt is not None:
                        side.start_soon(self._interrupt_when, interrupt, scope)
                    await dispatcher.dispatch(routed)
                    if interrupt is None or not interrupt.is_set():
                        await self.read_doubts()
                    side.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The run as a whole broke after changes began (say, the token endpoint stopped
            # answering): every item is still accounted for, with what we know of it.
            # Anything but our own errors (a bug, a cancellation) propagates.
            ours, rest = group.split(BulkError)
            if rest is not None or ours is None:
                raise
            self.book.finish(f"the run stopped: {_first(ours)}")
            log(_log, logging.WARNING, "dispatch stopped: %s", _first(ours))
            return False
        finally:
            # A 404 mid-run switched this kind to single calls: later runs start there.
            if self.connection.bulk is not None:
                self.connection.bulk[self.goal.kind] = dispatcher.bulk
        if interrupt is not None and interrupt.is_set():
            self.book.finish("interrupted before this item settled", interrupted=True)
            log(_log, logging.WARNING, "dispatch interrupted: nothing more was sent")
            return True
        if scope.cancelled_caught:
            self.book.finish(f"the run's deadline of {deadline:g} s passed first")
            log(_log, logging.WARNING, "dispatch cut short: the deadline of %g s passed", deadline)
            return False
        counters, window = self.caller.counters, self.caller.window
        log(
            _log,
            logging.INFO,
            "dispatch done: %s; concurrency window peaked at %d of %d, ended at %d",
            plural(counters.mutating, "change request"),
            window.peak,
            window.cap,
            window.size,
            mutating_requests=counters.mutating,
            window_peak=window.peak,
            window=window.size,
            peak_in_flight=counters.peak_in_flight,
        )
        return False

    async def read_doubts(self) -> None:
        """Read the items left ``unknown`` once more, the cheapest way, and settle each by it.

        One round (a list of the group, or a GET per item, whichever costs fewer requests),
        retried as any read within what is left of the run's retry budget: a run against a
        dead server still ends promptly. An item whose read fails stays ``unknown``: the
        service cannot be reached.
        """
        doubts = self.book.doubts()
        if not doubts:
            return
        try:
            reads: dict[str, Read] = await self.reader.read(doubts)
        except BulkError:
            return  # nothing could be read: every one of them stays unknown
        items = self.book.items
        for item_id in doubts:
            read = reads[item_id]
            if not isinstance(read, Failure):
                self.book.reconsider(item_id, *at_final_read(self.goal, items[item_id], read))
        self.book.write_journal()

    async def _interrupt_when(self, interrupt: anyio.Event, scope: anyio.CancelScope) -> None:
        """On interruption: send nothing new, give requests in flight a grace period, stop."""
        await interrupt.wait()
        self.dispatcher.stop_sending()
        await self.connection.clock.sleep(self.connection.options.grace)
        scope.cancel()

    def report(
        self,
        results: tuple[ItemResult, ...],
        *,
        duplicates: int,
        started: float,
        interrupted: bool,
        info: RunInfo,
        carried_over: int = 0,
        kept: int = 0,
    ) -> Report:
        """The report of the run, with the caller's counts and the run's audit trail."""
        counters = self.caller.counters
        clock = self.connection.clock
        report = Report.build(
            kind=self.goal.kind,
            target=self.goal.target,
            items=results,
            requests=counters.requests,
            mutating_requests=counters.mutating,
            retries=counters.retries,
            throttled=counters.throttled,
            duplicates=duplicates,
            seconds=clock.monotonic() - started,
            interrupted=interrupted,
            carried_over=carried_over,
            kept=kept,
            run=attrs.evolve(
                info,
                finished_at=dt.datetime.fromtimestamp(clock.time(), dt.UTC),
                interrupted=interrupted,
            ),
        )
        _log_end(report)
        return report


async def _meta_and_count(
    connection: Connection, api: Api, reader: StatusReader, *, prefetch: bool
) -> dict[Kind, bool]:
    """What needs only the token, in one round: meta (once per client) and ``$count``.

    With ``prefetch`` (and many items) the first page of the listing goes too
    (:meth:`StatusReader.count`). Each waits for the others, and meta's error is raised
    before the count's: the same error as when one went after the other.
    Returns the bulk capabilities.
    """
    known = [] if connection.bulk is None else [connection.bulk]
    errors: list[BulkError] = []

    async def meta() -> None:
        try:
            known.append(await api.bulk_capabilities())
        except BulkError as error:
            errors.insert(0, error)

    async def count() -> None:
        try:
            await reader.count(prefetch=prefetch)
        except BulkError as error:
            errors.append(error)

    async with anyio.create_task_group() as group:
        if not known:
            group.start_soon(meta)
        if reader.items:
            group.start_soon(count)
    if errors:
        raise errors[0]
    connection.bulk = known[0]
    return connection.bulk


def _log_start(info: RunInfo, what: str, more: str = "") -> None:
    log(
        _log,
        logging.INFO,
        "run started: %s in resource group %r%s",
        what,
        info.resource_group,
        more,
        kind=info.kind,
        target=info.target.value,
        resource_group=info.resource_group,
        base_url=info.base_url,
        tool_version=info.tool_version,
        resumes=info.resumes,
    )


def _log_end(report: Report) -> None:
    """One record of the outcomes, and one of the items that missed their goal (if any)."""
    summary = report.summary
    outcomes = {outcome.value: n for outcome, n in summary.outcomes.items() if n}
    log(
        _log,
        logging.INFO,
        "run done: %s of %s%s; %s in %.1f s",
        ", ".join(f"{n:,} {outcome}" for outcome, n in outcomes.items()) or "nothing",
        plural(summary.total, report.kind.removesuffix("s")),
        " (interrupted)" if summary.interrupted else "",
        plural(summary.requests, "request"),
        summary.seconds,
        outcomes=outcomes,
        requests=summary.requests,
        mutating_requests=summary.mutating_requests,
        retries=summary.retries,
        throttled=summary.throttled,
        seconds=round(summary.seconds, 3),
        interrupted=summary.interrupted,
    )
    missed = {outcome.value: n for outcome, n in summary.outcomes.items() if n and not outcome.ok}
    if not missed or not _log.isEnabledFor(logging.WARNING):
        return
    # One record for the run, never one per item: a million failures would be a million lines.
    first = [
        item.id
        for item in itertools.islice(
            (item for item in report.items if not item.outcome.ok), _IDS_LOGGED
        )
    ]
    total = sum(missed.values())
    log(
        _log,
        logging.WARNING,
        "%s of %s did not reach %s: %s; first: %s%s",
        f"{total:,}",
        plural(summary.total, report.kind.removesuffix("s")),
        report.target.value,
        ", ".join(f"{n:,} {outcome}" for outcome, n in missed.items()),
        ", ".join(first),
        ", ..." if total > len(first) else "",
        missed=missed,
        first_ids=first,
    )


def _new_run_id(clock: Clock) -> tuple[str, dt.datetime]:
    """A new run's ID, sortable by start time (to the second) and unique, and its start."""
    started_at = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    return f"{started_at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}", started_at


def _settings(
    connection: Connection,
    *,
    deadline: float | None,
    journal: JournalPath | None,
    labels: Mapping[str, str] | None,
) -> RunSettings:
    """The options that shape a run, for its audit trail."""
    limits, options, retry = connection.limits, connection.options, connection.retry
    return RunSettings(
        concurrency=limits.concurrency,
        rate=limits.rate,
        adaptive=limits.adaptive,
        attempts=retry.attempts,
        request_timeout=retry.request_timeout,
        deadline=deadline,
        stop_wait=options.stop_wait,
        poll_interval=options.poll_interval,
        page_size=options.page_size,
        batch_wait=options.batch_wait,
        grace=options.grace,
        journal=os.fspath(journal) if journal is not None else None,
        labels=MappingProxyType(dict(labels or {})),
    )


def _without_credentials(url: str) -> str:
    """The URL without user information, query or fragment (it goes into reports and logs)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _first(group: BaseExceptionGroup[BulkError]) -> BaseException:
    """The first error of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


async def _expire(clock: Clock, seconds: float, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` after ``seconds`` of the run's clock (virtual in tests)."""
    await clock.sleep(seconds)
    scope.cancel()


def _budget(retry: RetryPolicy, items: int) -> int:
    """Retries for the whole run: as set, or 20 plus two per request the items need."""
    if retry.budget is not None:
        return retry.budget
    return _BASE_BUDGET + 2 * (items // 50 + 1)


def _fan_out(*listeners: Listener | None) -> Listener | None:
    active = [listener for listener in listeners if listener is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def every(event: Event) -> None:
        for listener in active:
            listener(event)

    return every


async def wait_gone(
    connection: Connection, kind: Kind, ids: set[str], *, within: float
) -> set[str]:
    """Wait until none of ``ids`` is listed; returns those still listed after ``within``."""
    clock, options = connection.clock, connection.options
    api = connection.api(connection.caller(listener=None, items=0))
    give_up = clock.monotonic() + within
    while ids:
        ids = await still_listed(api, kind, ids, page_size=options.page_size)
        if not ids or clock.monotonic() >= give_up:
            break
        await clock.sleep(min(options.poll_interval, give_up - clock.monotonic()))
    return ids
