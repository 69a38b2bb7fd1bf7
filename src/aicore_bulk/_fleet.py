"""One run across many resource groups, under one shared limit.

::

    groups -> select in each (at once) -> resolve -> route -> one plan -> confirm
           -> one journal -> dispatch in each (at once) -> one report

Each group gets a :class:`~aicore_bulk._run.Run` of its own, as a run in one group would:
its own book, status reads, queue and dispatcher. What they share is the tenant's:

* **one limit.** The gateway throttles the tenant, not a group, so every group's requests go
  through one limiter (the concurrency window), one pacer (the rate, and the pause every 429
  calls for) and one retry budget. Each group's caller is a view over those three with
  counters of its own, which give the group's summary its request counts.
* **fairness.** anyio's ``CapacityLimiter`` lets waiting tasks in first come, first served.
  Each group's dispatcher keeps up to twice the concurrency of its own requests waiting and
  queues the next one as soon as one ends, so the groups' requests interleave: every group
  with work gets about an equal share of the window, and a small group ends early instead of
  waiting behind a big one.
* **one plan, one journal, one report.** The plan and the report hold every group's items
  (each naming its group), with a summary per group and in total; the confirmation and
  ``--max-items`` see the total. The journal records every group's items, so that a resume
  finishes the run in every group.

Only a selection spans groups: an item ID means something in one group only.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anyio
import attrs

from aicore_bulk._api import Api, list_resource_groups
from aicore_bulk._caller import Caller, Counters
from aicore_bulk._errors import InputError
from aicore_bulk._events import Event, Listener, PhaseDone, PlanReady
from aicore_bulk._groups import ResourceGroups
from aicore_bulk._intake import Ids, SelectedIds
from aicore_bulk._journal import Journal, RunRecord
from aicore_bulk._logging import get_logger, log, plural, run_id_set
from aicore_bulk._models import Kind, Route, Target
from aicore_bulk._report import (
    ItemResult,
    KeptItem,
    Plan,
    Report,
    RunInfo,
    RunSettings,
    Summary,
    count_outcomes,
    route_counts,
)
from aicore_bulk._retry import RetryBudget
from aicore_bulk._routing import Routed
from aicore_bulk._run import (
    _VERBS,
    Confirm,
    Connection,
    JournalPath,
    Run,
    _budget,
    _fan_out,
    _log_end,
    _log_start,
    _new_run_id,
    _settings,
    _without_credentials,
    ask,
    dry_run,
    execute,
    resume,
    resumed,
)
from aicore_bulk._selection import Retention, Selection, select_statuses
from aicore_bulk._transitions import Goal, ItemState
from aicore_bulk._version import __version__

_log = get_logger("run")
#: The caller of requests that belong to no group: listing the groups, ``/lm/meta``.
_TENANT = ""


class GroupSelection:
    """What :meth:`BulkClient.select` returns for several resource groups.

    Give it whole to :meth:`~BulkClient.delete`, :meth:`~BulkClient.stop` or
    :meth:`~BulkClient.plan` of the client that made it: the run lists each group with the
    same selection, and runs in all of them at once. It is used once.
    """

    def __init__(
        self, owner: Connection, kind: Kind, selection: Selection, groups: ResourceGroups
    ) -> None:
        self.owner, self.kind, self.selection, self.groups = owner, kind, selection, groups
        self.used = False

    def __repr__(self) -> str:
        return f"<GroupSelection {self.kind} in {self.groups}>"

    def take(self, owner: Connection, kind: Kind) -> None:
        """Mark it used by a run of ``owner`` for ``kind``.

        Raises:
            InputError: Another client's, another kind's, or used already.
        """
        if owner is not self.owner or kind != self.kind:
            raise InputError(
                "a selection across resource groups runs only on the client that made it, "
                "for the kind it was made for"
            )
        if self.used:
            raise InputError("this selection was already used by a run; call select() again")
        self.used = True


@attrs.define(eq=False)
class _Shared:
    """The tenant's one limit (window, pacer, retry budget) and a caller per group over it."""

    connection: Connection
    listener: Listener | None
    #: The caller whose pacer, window, limiter and retry budget every group's caller shares.
    limit: Caller
    callers: dict[str, Caller] = attrs.field(factory=dict)

    @property
    def budget(self) -> RetryBudget:
        """The run's retries, shared by every group."""
        return self.limit.budget

    @classmethod
    def new(cls, connection: Connection, listener: Listener | None) -> _Shared:
        # One caller's limit (pacer, window, limiter, remembered limits) for the tenant;
        # its retry budget is sized once the items are known (see :func:`_prepare`).
        return cls(connection, listener, connection.caller(listener=listener, items=0))

    def caller(self, group: str) -> Caller:
        """The caller of ``group``'s requests: the shared limit, the group's own counters."""
        caller = self.callers.get(group)
        if caller is None:
            caller = self.callers[group] = attrs.evolve(self.limit, counters=Counters())
        return caller

    def total(self) -> Counters:
        """Every request of the run, in any group or none."""
        every = [caller.counters for caller in self.callers.values()]
        return Counters(
            requests=sum(c.requests for c in every),
            mutating=sum(c.mutating for c in every),
            retries=sum(c.retries for c in every),
            throttled=sum(c.throttled for c in every),
        )


@attrs.define(eq=False)
class _Fleet:
    """A run across groups: a :class:`Run` per group, in order, and what they share."""

    connection: Connection
    goal: Goal
    shared: _Shared
    events: Listener | None
    runs: dict[str, Run]
    duplicates: dict[str, int]
    #: Repeats in the run's input when only their total is known (a resume).
    duplicates_total: int | None = None
    #: What each group's retention kept (``keep_latest``): never chosen for a change.
    kept: dict[str, tuple[KeptItem, ...]] = attrs.field(factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The groups, in order."""
        return tuple(self.runs)

    @property
    def total_duplicates(self) -> int:
        """Repeats in the run's input, in every group."""
        if self.duplicates_total is not None:
            return self.duplicates_total
        return sum(self.duplicates.values())

    def route(self) -> dict[str, Routed]:
        """Every group's routes; one :class:`PlanReady` for the whole run."""
        routed = {name: run.route() for name, run in self.runs.items()}
        paths: Counter[Route] = Counter()
        for one in routed.values():
            paths.update(one.counts)
        if self.events is not None:
            self.events(
                PlanReady(
                    kind=self.goal.kind,
                    target=self.goal.target,
                    paths=route_counts(paths),
                    total=sum(len(run.book.items) for run in self.runs.values()),
                    requests=sum(
                        routed[name].requests(batch=run.dispatcher.batch_size)
                        for name, run in self.runs.items()
                    ),
                )
            )
        return routed

    def plan(self, routed: Mapping[str, Routed]) -> Plan:
        """The plan of every group, and in total."""
        plans = {
            name: run.plan(
                routed[name], duplicates=self.duplicates[name], kept=self.kept.get(name, ())
            )
            for name, run in self.runs.items()
        }
        paths: Counter[Route] = Counter()
        for plan in plans.values():
            paths.update(plan.paths)
        return Plan(
            kind=self.goal.kind,
            target=self.goal.target,
            items=tuple(itertools.chain.from_iterable(plan.items for plan in plans.values())),
            paths=route_counts(paths),
            requests=sum(plan.requests for plan in plans.values()),
            reads=self.shared.total().requests,
            duplicates=self.total_duplicates,
            kept=tuple(itertools.chain.from_iterable(plan.kept for plan in plans.values())),
            groups=MappingProxyType(plans),
        )

    async def dispatch(
        self,
        routed: Mapping[str, Routed],
        *,
        deadline: float | None,
        interrupt: anyio.Event | None,
    ) -> tuple[bool, dict[str, float]]:
        """Every group's changes at once; whether interrupted, and when each group ended."""
        clock = self.connection.clock
        ended: dict[str, float] = {}
        interrupted: list[bool] = []

        async def one(name: str) -> None:
            run = self.runs[name]
            interrupted.append(
                await run.dispatch(routed[name], deadline=deadline, interrupt=interrupt)
            )
            ended[name] = clock.monotonic()

        try:
            async with anyio.create_task_group() as group:
                for name in self.runs:
                    group.start_soon(one, name)
        finally:
            # Once for the tenant: the groups share one limit (their runs keep no memory).
            self.connection.remember(self.shared.limit)
        self.emit(PhaseDone("dispatch"))
        return any(interrupted), ended

    def emit(self, event: Event) -> None:
        """Tell the run's listeners."""
        if self.events is not None:
            self.events(event)

    def report(
        self,
        results: tuple[ItemResult, ...],
        info: RunInfo,
        *,
        started: float,
        ended: Mapping[str, float],
        interrupted: bool,
        carried_over: Mapping[str, int] | None = None,
    ) -> Report:
        """One report: every item with its group, a summary per group and in total."""
        clock = self.connection.clock
        carried_over = carried_over or {}
        by_group: dict[str, list[ItemResult]] = {name: [] for name in self.runs}
        for item in results:
            by_group[item.resource_group or ""].append(item)
        summaries = {}
        for name, run in self.runs.items():
            counters = run.caller.counters
            summaries[name] = Summary(
                outcomes=count_outcomes(by_group[name]),
                requests=counters.requests,
                mutating_requests=counters.mutating,
                retries=counters.retries,
                throttled=counters.throttled,
                duplicates=self.duplicates[name],
                kept=len(self.kept.get(name, ())),
                seconds=ended.get(name, clock.monotonic()) - started,
                interrupted=interrupted,
                carried_over=carried_over.get(name, 0),
            )
        total = self.shared.total()
        report = Report.build(
            kind=self.goal.kind,
            target=self.goal.target,
            items=results,
            requests=total.requests,
            mutating_requests=total.mutating,
            retries=total.retries,
            throttled=total.throttled,
            duplicates=self.total_duplicates,
            seconds=clock.monotonic() - started,
            interrupted=interrupted,
            carried_over=sum(carried_over.values()),
            kept=sum(map(len, self.kept.values())),
            run=attrs.evolve(
                info,
                finished_at=dt.datetime.fromtimestamp(clock.time(), dt.UTC),
                interrupted=interrupted,
            ),
            groups=summaries,
        )
        _log_end(report)
        return report


async def _group_names(
    connection: Connection, shared: _Shared, groups: ResourceGroups
) -> list[str]:
    """The groups' names: as given, or listed (admin scope).

    Raises:
        InputError: No group matches the conditions (nothing was changed).
    """
    if groups.names:
        return list(groups.names)
    names = await list_resource_groups(
        shared.caller(_TENANT), connection.base_url, selector=groups.selector
    )
    if not names:
        raise InputError(
            f"no resource group matches {groups.selector}"
            if groups.selector
            else "the tenant has no resource group"
        )
    log(
        _log,
        logging.INFO,
        "resource groups: %s (%s)",
        plural(len(names), "group"),
        ", ".join(names),
        resource_groups=names,
        selector=groups.selector,
    )
    return names


async def _select(
    connection: Connection, shared: _Shared, name: str, kind: Kind, selection: Selection
) -> tuple[dict[str, ItemState], int, tuple[KeptItem, ...]]:
    """One group's selected items (each with its listed status), repeats, and kept items.

    ``keep_latest`` applies within each group, as each group has its own configurations.
    """
    states: dict[str, ItemState] = {}
    total = 0
    api = Api(shared.caller(name), connection.base_url, name)
    retention = Retention.of(selection)
    async for item_id, seen in select_statuses(
        api,
        kind,
        selection,
        page_size=connection.options.page_size,
        now=connection.clock.time,
        retention=retention,
    ):
        total += 1
        if item_id not in states:
            state = states[item_id] = ItemState()
            state.take(seen)
    kept = retention.kept if retention is not None else ()
    return states, total - len(states), kept


async def _prepare(
    connection: Connection,
    goal: Goal,
    shared: _Shared,
    states: Mapping[str, dict[str, ItemState]],
    duplicates: Mapping[str, int],
    *,
    statuses_known: bool,
) -> _Fleet:
    """A :class:`Run` per group, over the shared limit, with every group's statuses resolved."""
    shared.budget.left = _budget(connection.retry, sum(map(len, states.values())))
    if connection.bulk is None:
        first = next(iter(states))
        connection.bulk = await Api(
            shared.caller(_TENANT), connection.base_url, first
        ).bulk_capabilities()
    events = shared.listener
    # Each group's plan and phases are told once, for the whole run (see _Fleet).
    inner = _without_run_events(events)
    runs: dict[str, Run] = {}

    async def prepare(name: str) -> None:
        runs[name] = await Run.prepare(
            # The run across groups keeps what the shared limit learned, once (see dispatch).
            attrs.evolve(connection, resource_group=name, listener=None, memory=None),
            goal,
            states[name],
            listener=inner,
            statuses_known=statuses_known,
            caller=shared.caller(name),
        )

    async with anyio.create_task_group() as group:
        for name in states:
            group.start_soon(prepare, name)
    fleet = _Fleet(
        connection,
        goal,
        shared,
        events,
        {name: runs[name] for name in states},
        dict(duplicates),
    )
    fleet.emit(PhaseDone("resolve"))
    return fleet


async def _select_all(
    connection: Connection, chosen: GroupSelection, goal: Goal, listener: Listener | None
) -> _Fleet:
    """List the groups, select in each of them at once, and prepare their runs."""
    shared = _Shared.new(connection, _fan_out(connection.listener, listener))
    # The token first: bad credentials fail here, before anything else is sent.
    await connection.auth.token(connection.transport)
    names = await _group_names(connection, shared, chosen.groups)
    selected: dict[str, tuple[dict[str, ItemState], int, tuple[KeptItem, ...]]] = {}

    async def select(name: str) -> None:
        selected[name] = await _select(connection, shared, name, goal.kind, chosen.selection)

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(select, name)
    fleet = await _prepare(
        connection,
        goal,
        shared,
        {name: selected[name][0] for name in names},
        {name: selected[name][1] for name in names},
        statuses_known=True,
    )
    fleet.kept = {name: selected[name][2] for name in names}
    return fleet


def _info(
    connection: Connection,
    start: tuple[str, dt.datetime],
    names: tuple[str, ...],
    goal: Goal,
    settings: RunSettings,
    resumes: str | None = None,
) -> RunInfo:
    return RunInfo(
        id=start[0],
        resumes=resumes,
        tool_version=__version__,
        base_url=_without_credentials(connection.base_url),
        resource_group=",".join(names),
        resource_groups=names,
        kind=goal.kind,
        target=goal.target,
        started_at=start[1],
        options=settings,
    )


async def execute_groups(
    connection: Connection,
    chosen: GroupSelection,
    target: Target,
    *,
    deadline: float | None,
    confirm: Confirm | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
    journal: JournalPath | None,
    labels: Mapping[str, str] | None,
    include_running: bool,
) -> Report:
    """Stop or delete what a selection takes in every chosen group: one run, one report."""
    kind = chosen.kind
    start = _new_run_id(connection.clock)
    with run_id_set(start[0]):
        started = connection.clock.monotonic()
        if journal is not None:
            Journal.check_new(journal)
        log(
            _log,
            logging.INFO,
            "run started: %s %s in %s",
            _VERBS[target][1],
            kind,
            chosen.groups,
            kind=kind,
            target=target.value,
            tool_version=__version__,
        )
        goal = Goal(kind, target, include_running)
        fleet = await _select_all(connection, chosen, goal, listener)
        info = _info(
            connection,
            start,
            fleet.names,
            goal,
            _settings(connection, deadline=deadline, journal=journal, labels=labels),
        )
        routed = fleet.route()
        if confirm is not None:
            # The time a person took to answer is no part of the run's duration.
            started += await ask(confirm, fleet.plan(routed), connection.clock)
        book = _create_journal(fleet, journal, routed, info) if journal is not None else None
        try:
            interrupted, ended = await fleet.dispatch(
                routed, deadline=deadline, interrupt=interrupt
            )
        finally:
            if book is not None:
                book.close()
        results = tuple(
            itertools.chain.from_iterable(run.book.take_results() for run in fleet.runs.values())
        )
        return fleet.report(results, info, started=started, ended=ended, interrupted=interrupted)


def _create_journal(
    fleet: _Fleet, path: JournalPath, routed: Mapping[str, Routed], info: RunInfo
) -> Journal:
    """The run's one journal, written before the first change; each group's book writes it."""
    counts: Counter[Route] = Counter()
    for one in routed.values():
        counts.update(one.counts)
    book = Journal.create_groups(
        path,
        RunRecord(
            kind=fleet.goal.kind,
            target=fleet.goal.target,
            resource_group=info.resource_group,
            resource_groups=fleet.names,
            base_url=fleet.connection.base_url,
            duplicates=fleet.total_duplicates,
            plan={route.value: n for route, n in counts.items()},
            run=info,
            include_running=fleet.goal.include_running,
            across_groups=True,
        ),
        [
            (
                name,
                run.book.items,
                (run.book.record(i) for i, state in run.book.items.items() if state.outcome),
            )
            for name, run in fleet.runs.items()
        ],
    )
    for name, run in fleet.runs.items():
        run.book.journal = book.for_group(name)
    return book


async def dry_run_groups(
    connection: Connection,
    chosen: GroupSelection,
    target: Target,
    *,
    listener: Listener | None,
    include_running: bool,
) -> Plan:
    """What :func:`execute_groups` would do, learned by reading only."""
    run_id, _ = _new_run_id(connection.clock)
    with run_id_set(run_id):
        log(
            _log,
            logging.INFO,
            "dry run started: planning to %s %s in %s",
            _VERBS[target][0],
            chosen.kind,
            chosen.groups,
            kind=chosen.kind,
            target=target.value,
        )
        goal = Goal(chosen.kind, target, include_running)
        fleet = await _select_all(connection, chosen, goal, listener)
        return fleet.plan(fleet.route())


async def resume_groups(
    connection: Connection,
    journal: JournalPath,
    *,
    deadline: float | None,
    interrupt: anyio.Event | None,
    listener: Listener | None,
    labels: Mapping[str, str] | None,
) -> Report:
    """Finish, in every group it names, a run across groups that a journal recorded."""
    start = _new_run_id(connection.clock)
    with run_id_set(start[0]):
        started = connection.clock.monotonic()
        book = Journal.open(journal)
        try:
            record = book.run()
            if record.base_url != connection.base_url:
                raise InputError(
                    f"journal {book.path} belongs to service {record.base_url!r}, this client "
                    f"uses {connection.base_url!r}"
                )
            recorded = book.items()
            still_open: dict[str, dict[str, ItemState]] = {
                name: {} for name in record.resource_groups
            }
            carried: Counter[str] = Counter()
            for entry in recorded:
                group = entry.result.resource_group or ""
                if not entry.open:
                    carried[group] += 1
                    continue
                still_open[group][entry.result.id] = resumed(entry)
            goal = Goal(record.kind, record.target, record.include_running)
            info = _info(
                connection,
                start,
                record.resource_groups,
                goal,
                _settings(connection, deadline=deadline, journal=journal, labels=labels),
                resumes=record.run.id if record.run is not None else None,
            )
            _log_start(
                info,
                f"{_VERBS[info.target][1]} {record.kind}",
                f", resuming run {info.resumes or '(not recorded)'}: "
                f"{plural(sum(map(len, still_open.values())), 'item')} still open, "
                f"{carried.total():,} settled earlier",
            )
            shared = _Shared.new(connection, _fan_out(connection.listener, listener))
            await connection.auth.token(connection.transport)
            fleet = await _prepare(
                connection,
                goal,
                shared,
                still_open,
                dict.fromkeys(still_open, 0),
                statuses_known=False,
            )
            # The journal keeps the total of the repeats only.
            fleet.duplicates_total = record.duplicates
            for name, run in fleet.runs.items():
                run.book.journal = book.for_group(name)
            routed = fleet.route()
            for run in fleet.runs.values():
                run.book.write_journal()
            interrupted, ended = await fleet.dispatch(
                routed, deadline=deadline, interrupt=interrupt
            )
        finally:
            book.close()
        fresh = {name: iter(run.book.take_results()) for name, run in fleet.runs.items()}
        results = tuple(
            next(fresh[entry.result.resource_group or ""]) if entry.open else entry.result
            for entry in recorded
        )
        return fleet.report(
            results,
            info,
            started=started,
            ended=ended,
            interrupted=interrupted,
            carried_over=carried,
        )


def _without_run_events(listener: Listener | None) -> Listener | None:
    """``listener``, minus each group's plan and phases (the run tells its own, once)."""
    if listener is None:
        return None
    forward: Callable[[Event], None] = listener

    def events(event: Event) -> None:
        if not isinstance(event, PlanReady | PhaseDone):
            forward(event)

    return events


def is_across_groups(journal: JournalPath) -> bool:
    """Whether the journal at ``journal`` was written by a run across groups."""
    if not Path(journal).is_file():
        return False
    book = Journal.open(journal, upgrade=False)
    try:
        return book.run().across_groups
    finally:
        book.close()


# What the client calls: a run in one group, or across groups, by what it was given.


async def execute_any(
    connection: Connection,
    kind: Kind,
    ids: Ids | GroupSelection,
    target: Target,
    **options: Any,  # noqa: ANN401 - execute's keywords, passed on as they are
) -> Report:
    """:func:`execute_groups` for a :class:`GroupSelection`, else a run in one group."""
    if isinstance(ids, GroupSelection):
        ids.take(connection, kind)
        return await execute_groups(connection, ids, target, **options)
    return await execute(connection, kind, ids, target, **options)


async def dry_run_any(
    connection: Connection,
    kind: Kind,
    ids: Ids | GroupSelection,
    target: Target,
    *,
    listener: Listener | None,
    include_running: bool = False,
) -> Plan:
    """:func:`dry_run_groups` for a :class:`GroupSelection`, else a dry run in one group."""
    if isinstance(ids, GroupSelection):
        ids.take(connection, kind)
        return await dry_run_groups(
            connection, ids, target, listener=listener, include_running=include_running
        )
    return await dry_run(
        connection, kind, ids, target, listener=listener, include_running=include_running
    )


async def resume_any(
    connection: Connection,
    journal: JournalPath,
    **options: Any,  # noqa: ANN401 - resume's keywords, passed on as they are
) -> Report:
    """:func:`resume_groups` for the journal of a run across groups, else a resume."""
    if is_across_groups(journal):
        return await resume_groups(connection, journal, **options)
    return await resume(connection, journal, **options)


def select_any(
    connection: Connection, kind: Kind, selection: Selection, groups: ResourceGroups | None
) -> SelectedIds | GroupSelection:
    """The client's own group's selected IDs, or a selection to run in several groups."""
    if groups is None:
        retention = Retention.of(selection)
        return SelectedIds(
            connection, kind, connection.selected(kind, selection, retention), retention
        )
    if not isinstance(groups, ResourceGroups):
        raise InputError(f"resource_groups must be a ResourceGroups, not {type(groups).__name__}")
    return GroupSelection(connection, kind, selection, groups)
