"""The dispatcher: runs a cleanup from statuses to a settled outcome for every item.

One run, in order: read statuses (list pages or single reads, whichever costs fewer
requests), decide every item's path, send the first changes (stops first), then keep going
as answers arrive:

* a stop accepted on the way to a delete puts the item in the *waiting* set; a poller lists
  the STOPPING items now and then, and an item that has left STOPPING is deleted;
* a per-item ``01010076`` ("cannot be changed") means the status moved under us, and an item
  missing from an answer (a cut-off body) may or may not have changed: either way the item is
  read again and takes the path its fresh status calls for (at most ``_MAX_REREADS`` times),
  never a blind re-send;
* later changes are packed into full requests at once, and a partial request goes out when
  nothing else could still fill it (or after ``hold`` seconds).

Every item ends with exactly one outcome. Whatever is unsettled when the run ends early
(deadline, a run-wide error) is ``unknown`` if it may have been changed, ``failed`` otherwise.
"""

from __future__ import annotations

import collections
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import ClassVar, Final

import anyio
import anyio.abc
import attrs

from aicore_bulk._api import Api, ChangeAnswer, ItemAnswer, Op
from aicore_bulk._caller import Failure
from aicore_bulk._errors import AuthenticationError, BulkError, ServiceError
from aicore_bulk._events import ItemSettled, Listener, PhaseDone, PlanReady
from aicore_bulk._gc import collector_paused
from aicore_bulk._journal import ItemRecord, Journal
from aicore_bulk._models import MAX_BATCH, STOPPABLE, Kind, Outcome, Status, Target, deletable
from aicore_bulk._planner import SETTLED_PATHS, Path, decide, first_op, minimum_requests, pack
from aicore_bulk._report import ItemResult

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Read = Status | None | Failure

#: How often one item may be read again before we give up on it.
_MAX_REREADS: Final = 3
_NOT_FOUND: Final = 404
#: A change throttled this many times (each after a pause) is given up.
_MAX_THROTTLES: Final = 24
#: Requests started ahead of the concurrency limit, so the limiter always has the next one.
_AHEAD: Final = 2
#: A change that never got an answer is sent at most this many times.
_MAX_ATTEMPTS: Final = 6
_THROTTLED: Final = 429
#: Stands for a queued change that newer knowledge forbids.
_STALE: Final = ItemAnswer("refused", None, "planned before the item's status changed")
#: Stands for an item that a request carried but whose answer did not mention it.
_NO_ANSWER: Final = ItemAnswer("refused", None, "no answer for this item")
_SETTLED_OUTCOME: Final = {
    Path.UNCHANGED: Outcome.UNCHANGED,
    Path.ABSENT: Outcome.ALREADY_ABSENT,
    Path.SKIP: Outcome.SKIPPED,
}


_UNCONFIRMED, _DELETE_UNSURE, _OURS, _IN_FLIGHT = 1, 2, 4, 8


class ItemState:
    """Everything the engine knows about one item while it runs.

    A million of these live at once, so they are kept small: four flags share one int, and
    what few items need (re-reads, 429s, a stop wait) lives in a side object made on demand.
    """

    __slots__ = ("_rare", "attempts", "code", "flags", "message", "outcome", "path", "status")

    def __init__(self) -> None:
        # No arguments and plain stores: a million of these are made before anything is sent.
        self.status: Status | None = None
        self.path: Path | None = None
        self.outcome: Outcome | None = None
        self.code: str | None = None
        self.message: str | None = None
        self.attempts = 0
        self.flags = 0
        self._rare: _Rare | None = None

    @classmethod
    def resumed(
        cls, *, attempts: int, unconfirmed: bool, delete_unsure: bool, stopped_by_us: bool
    ) -> ItemState:
        """An item an earlier session left open, with what the journal says it did to it."""
        state = cls()
        state.attempts = attempts
        state.unconfirmed = unconfirmed
        state.delete_unsure = delete_unsure
        state.stopped_by_us = stopped_by_us
        return state

    #: Flags a resumed run starts with: its earlier changes, which the plan must mind.
    EARLIER_CHANGES: ClassVar[int] = _UNCONFIRMED | _OURS

    def __repr__(self) -> str:
        return f"<ItemState {self.status} {self.path} {self.outcome} flags={self.flags:04b}>"

    def _flag(self, bit: int) -> bool:
        return bool(self.flags & bit)

    def _set(self, bit: int, value: bool) -> None:  # noqa: FBT001 - a setter's value
        self.flags = self.flags | bit if value else self.flags & ~bit

    @property
    def unconfirmed(self) -> bool:
        """A request carrying this item may have acted without telling us."""
        return self._flag(_UNCONFIRMED)

    @unconfirmed.setter
    def unconfirmed(self, value: bool) -> None:
        self._set(_UNCONFIRMED, value)

    @property
    def delete_unsure(self) -> bool:
        """Our *delete* may have happened unseen: "not found" afterwards is our own doing."""
        return self._flag(_DELETE_UNSURE)

    @delete_unsure.setter
    def delete_unsure(self, value: bool) -> None:
        self._set(_DELETE_UNSURE, value)

    @property
    def stopped_by_us(self) -> bool:
        """Our stop was accepted (the item is on its way to STOPPED because of us)."""
        return self._flag(_OURS)

    @stopped_by_us.setter
    def stopped_by_us(self, value: bool) -> None:
        self._set(_OURS, value)

    @property
    def in_flight(self) -> bool:
        """A request carrying this item is under way."""
        return self._flag(_IN_FLIGHT)

    @in_flight.setter
    def in_flight(self, value: bool) -> None:
        self._set(_IN_FLIGHT, value)

    @property
    def rare(self) -> _Rare:
        """Counters few items ever need, made on first use."""
        if self._rare is None:
            self._rare = _Rare()
        return self._rare

    @property
    def waiting_since(self) -> float | None:
        """When the item started waiting for STOPPING to pass (None: never)."""
        return self._rare.waiting_since if self._rare is not None else None


class _Rare:
    """Counters few items need (a plain class: made for every item that waits for a stop)."""

    __slots__ = ("rereads", "throttles", "waiting_since")

    def __init__(self) -> None:
        self.rereads = 0
        self.throttles = 0
        self.waiting_since: float | None = None


@attrs.frozen(kw_only=True)
class EngineSettings:
    """Knobs of one run (see :class:`~aicore_bulk.BulkClient`)."""

    page_size: int = 100_000
    stop_wait: float = 600.0
    poll_interval: float = 2.0
    hold: float = 10.0


@attrs.define(eq=False)
class Engine:
    """One cleanup of one kind in one resource group."""

    api: Api
    kind: Kind
    target: Target
    bulk: bool
    items: dict[str, ItemState]
    settings: EngineSettings
    clock: Clock
    sleep: Sleep
    listener: Listener | None = None
    #: Where outcomes are written as they settle (see :mod:`aicore_bulk._journal`).
    journal: Journal | None = None
    #: The plan's first changes, cut into requests only as they are sent (a million Ops made
    #: up front would cost memory for nothing).
    _first: Iterator[list[Op]] = attrs.field(factory=lambda: iter(()), init=False)
    #: What :meth:`plan` found to stop, to delete, and to wait for before deleting.
    _first_lists: tuple[list[str], list[str], list[str]] = attrs.field(
        factory=lambda: ([], [], []), init=False
    )
    #: Changes that came up during the run (deletes after a stop, re-plans), packed as they
    #: fill. Stops are kept apart and taken first: each gates a stop wait of its own.
    _later_stops: collections.deque[Op] = attrs.field(factory=collections.deque, init=False)
    _later: collections.deque[Op] = attrs.field(factory=collections.deque, init=False)
    _later_since: float | None = attrs.field(default=None, init=False)
    _waiting: dict[str, None] = attrs.field(factory=dict, init=False)
    _busy: int = attrs.field(default=0, init=False)
    _waiter_running: bool = attrs.field(default=False, init=False)
    _group: anyio.abc.TaskGroup | None = attrs.field(default=None, init=False)
    #: Items in the resource group (from ``$count``): what listing it costs.
    _group_size: int = attrs.field(default=0, init=False)
    #: Set by :meth:`stop_sending`: no new request goes out; answers are still taken in.
    _stopping: bool = attrs.field(default=False, init=False)
    #: Items whose outcome or flags changed since the journal was last written.
    _unwritten: dict[str, None] = attrs.field(factory=dict, init=False)
    #: The last seen statuses that allow each change (None: nothing we know forbids it).
    _allowed: dict[Target, frozenset[Status | None]] = attrs.field(init=False)

    @_allowed.default
    def _allowed_statuses(self) -> dict[Target, frozenset[Status | None]]:
        deletable_now = frozenset(status for status in Status if deletable(self.kind, status))
        return {
            Target.STOPPED: frozenset({None, *STOPPABLE}),
            Target.DELETED: frozenset({None, *deletable_now}),
        }

    # Reading statuses.

    async def resolve(self, *, statuses_known: bool = False) -> None:
        """Learn every item's status with the fewest reads.

        ``statuses_known``: the items already hold the statuses a list just gave; only the
        group's size (what a re-read will cost) is read.

        Raises:
            ServiceError: The statuses could not be read. Nothing has been changed yet, so
                the run stops here, with no item in doubt.
        """
        if not self.items:
            return
        self._group_size = await self.api.count(self.kind)
        if not statuses_known:
            await self._read_into_items()
        self._emit(PhaseDone("resolve"))

    async def _read_into_items(self) -> None:
        """Every item's status, by the cheaper way."""
        if self._cheaper_to_list(len(self.items)):
            # Straight into the items: a million-entry dict of reads would only add to the peak.
            await self._list_into_items()
        else:
            for item_id, read in (await self._read_statuses(self.items)).items():
                if isinstance(read, Failure):
                    message = f"could not read its status: {read.message}"
                    self._settle(item_id, Outcome.FAILED, None, message)
                else:
                    self.items[item_id].status = read

    def _cheaper_to_list(self, count: int) -> bool:
        """Whether listing the whole group costs fewer requests than ``count`` single reads."""
        return max(1, math.ceil(self._group_size / self.settings.page_size)) < count

    async def _list_into_items(self, found: dict[str, Read] | None = None) -> None:
        """List the whole group: ``found``'s items get their status (None: not listed).

        Everything else the list shows is news about other items we track, too.
        """
        async for page in self.api.list_statuses(self.kind, page_size=self.settings.page_size):
            for item_id, status in page:
                if found is not None and item_id in found:
                    found[item_id] = status
                    continue
                tracked = self.items.get(item_id)
                if tracked is not None and tracked.outcome is None:
                    tracked.status = status

    async def _read_statuses(self, ids: Iterable[str]) -> dict[str, Read]:
        """Statuses of ``ids`` by the cheaper way: list the whole group, or read each.

        Listing costs ``ceil(group size / page_size)`` requests, single reads one per item.
        An item the list does not show does not exist (here): its status is None.
        """
        wanted = list(ids)
        if self._cheaper_to_list(len(wanted)):
            found: dict[str, Read] = dict.fromkeys(wanted)
            await self._list_into_items(found)
            return found
        results: dict[str, Read] = {}
        errors: list[BulkError] = []

        async def read(item_id: str) -> None:
            try:
                results[item_id] = await self.api.get_status(self.kind, item_id)
            except BulkError as error:  # raised plainly below, not in an exception group
                errors.append(error)

        async with anyio.create_task_group() as group:
            for item_id in wanted:
                group.start_soon(read, item_id)
        if errors:
            raise errors[0]
        return results

    def plan(self) -> Counter[Path]:
        """Give every item its path; settle those that need nothing. Returns the path counts.

        The same pass sorts the items for :meth:`first_changes`: this loop runs a million
        times, so it looks each status up in a table made once (path, reason, and the list
        the item joins) and does nothing else; the lists' lengths are the counts.
        """
        stops, deletes, waits = self._first_lists
        joins = {
            Path.DELETE: deletes.append,
            Path.STOP: stops.append,
            Path.STOP_THEN_DELETE: stops.append,
            Path.WAIT_THEN_DELETE: waits.append,
        }
        table = {
            status: (path, reason, joins.get(path))
            for status in (*Status, None)
            for path, reason in [decide(self.kind, self.target, status)]
        }
        settled: Counter[Path] = Counter()
        earlier_changes = ItemState.EARLIER_CHANGES
        with collector_paused():
            for item_id, state in self.items.items():
                if state.outcome is not None:
                    continue
                path, reason, join = table[state.status]
                if state.flags & earlier_changes:  # a resumed run's own changes
                    minded = self._mind_own_changes(item_id, state, path)
                    if minded is None:
                        continue
                    path, join = minded, joins.get(minded)
                state.path = path
                if join is not None:
                    join(item_id)
                else:
                    settled[path] += 1
                    self._settle(item_id, _SETTLED_OUTCOME[path], None, reason)
        stop_path = Path.STOP if self.target is Target.STOPPED else Path.STOP_THEN_DELETE
        counts = {
            stop_path: len(stops),
            Path.DELETE: len(deletes),
            Path.WAIT_THEN_DELETE: len(waits),
            **settled,
        }
        found = Counter({path: n for path, n in counts.items() if n})
        self._emit(
            PlanReady(
                kind=self.kind,
                target=self.target,
                paths={path.value: n for path, n in found.items()},
                total=len(self.items),
                requests=minimum_requests(found, batch=self.batch_size),
            )
        )
        return found

    @property
    def batch_size(self) -> int:
        """Items per request: 100 in bulk, 1 with single calls."""
        return MAX_BATCH if self.bulk else 1

    # Dispatching.

    async def dispatch(self) -> None:
        """Send every change the plan calls for, until every item has settled.

        Requests are started only while fewer than twice the concurrency are under way, so
        a million items never make ten thousand tasks wait at once.
        """
        self._first = self.first_changes()
        async with anyio.create_task_group() as group:
            self._group = group
            self._flush()
            self._start_waiter()
        self._group = None
        self.write_journal()
        self._emit(PhaseDone("dispatch"))

    def first_changes(self) -> Iterator[list[Op]]:
        """The plan's first requests (stops first), made as they are taken.

        Items that must wait for STOPPING to pass join the waiting set instead.
        """
        stops, deletes, waits = self._first_lists
        self._first_lists = ([], [], [])
        with collector_paused():  # there may be many
            self._wait_for(waits)
        return pack(stops, deletes, size=self.batch_size)

    def stop_sending(self) -> None:
        """Send nothing more (an interruption): requests in flight may still be answered."""
        self._stopping = True
        self._waiting.clear()
        self.api.caller.halted = True

    def _send(self, batch: Sequence[Op]) -> int:
        """Start a request with what of ``batch`` may still go; 1 if one was started, else 0."""
        if self._stopping:
            return 0  # the items stay open; finish() reports them as not sent
        current: list[Op] = []
        for op in batch:
            state = self.items[op.id]
            if state.outcome is not None:
                continue
            if not self._still_allowed(op, state.status):
                # What we learned since this change was planned forbids it: plan again.
                self._replan(op, _STALE, state.status, flush=False)
                continue
            state.in_flight = True
            state.attempts += 1
            current.append(op)
        if not current:
            return 0
        self._start(self._run_batch, current)
        return 1

    def _still_allowed(self, op: Op, status: Status | None) -> bool:
        """Whether the last status we saw allows this change (None: we have no reason not to)."""
        return status in self._allowed[op.target]

    async def _run_batch(self, batch: list[Op]) -> None:
        in_bulk = self.bulk  # may flip while this request is in flight
        if not in_bulk and len(batch) > 1:
            # Cut for bulk before the fall-back to single calls: one goes now, the rest
            # go back to the queue (one item per request from now on).
            self._give_back(batch[1:])
            del batch[1:]
        stale: list[Op] = []
        answer = await self._change(batch, stale, in_bulk=in_bulk)
        for op in stale:
            state = self.items[op.id]
            state.in_flight = False
            state.attempts -= 1
            if state.outcome is None:
                self._replan(op, _STALE, state.status, flush=False)  # flushed when we end
        if not batch:
            return
        if in_bulk and answer.status == _NOT_FOUND:
            self._fall_back_to_single(batch, answer)
        else:
            self._absorb(batch, answer)
        if self.journal is not None:
            self._unwritten.update(dict.fromkeys(op.id for op in batch))

    async def _change(self, batch: list[Op], stale: list[Op], *, in_bulk: bool) -> ChangeAnswer:
        """Send one change request; ``batch`` keeps what went, ``stale`` gets what did not."""

        def still_wanted() -> list[Op]:
            # The request may have queued for seconds: drop what newer knowledge forbids.
            keep: list[Op] = []
            for op in batch:
                allowed = self._still_allowed(op, self.items[op.id].status)
                (keep if allowed else stale).append(op)
            batch[:] = keep
            if self.journal is not None:
                self.journal.sending(keep)  # before it goes: a kill now leaves them in doubt
            return keep

        try:
            if in_bulk:
                return await self.api.change_in_bulk(self.kind, batch, last_look=still_wanted)
            if self.journal is not None:
                self.journal.sending(batch)
            return await self.api.change_one(self.kind, batch[0])
        except ServiceError:
            # The service refused the run as a whole (403, a bad resource group): this
            # request did nothing, so its items are not in doubt when the run stops.
            for op in batch:
                self.items[op.id].in_flight = False
            raise

    def _fall_back_to_single(self, batch: list[Op], answer: ChangeAnswer) -> None:
        """Meta promised a bulk endpoint that is not there: send these one by one."""
        self.bulk = False
        # The plan's first requests were cut for bulk: cut what is left of them again.
        self._first = ([op] for ops in self._first for op in ops)
        for op in batch:
            self.items[op.id].unconfirmed |= answer.unsure
        self._give_back(batch)

    def _give_back(self, ops: list[Op]) -> None:
        """Changes taken for a request that will not carry them: queue them again, unsent."""
        for op in ops:
            state = self.items[op.id]
            state.in_flight = False
            state.attempts -= 1
        self._queue(ops, flush=False)

    def _absorb(self, batch: Sequence[Op], answer: ChangeAnswer) -> None:
        recheck: list[tuple[Op, ItemAnswer]] = []
        requeue: list[Op] = []
        if answer.failure is not None:
            self._absorb_failure(batch, answer, answer.failure, recheck, requeue)
        else:
            # The common case, once per item of every request: kept to plain lookups.
            items, answers, unsure = self.items, answer.answers, answer.unsure
            for op in batch:
                state = items[op.id]
                state.flags &= ~_IN_FLIGHT
                if state.outcome is not None:
                    continue
                # No answer for an item (a cut-off body) is as unsure as an unsure request.
                item_answer = answers.get(op.id)
                if item_answer is None or unsure:
                    deleting = op.target is Target.DELETED
                    state.flags |= _UNCONFIRMED | (_DELETE_UNSURE if deleting else 0)
                if item_answer is None:
                    # The change may have happened: find out before sending anything again.
                    self._recheck_later(op, _NO_ANSWER, recheck)
                elif item_answer.kind == "conflict":
                    self._recheck_later(op, item_answer, recheck)
                else:
                    self._on_answer(op, item_answer)
        if recheck:
            self._start(self._recheck, recheck)
        if requeue:
            self._queue(requeue)

    def _absorb_failure(
        self,
        batch: Sequence[Op],
        answer: ChangeAnswer,
        failure: Failure,
        recheck: list[tuple[Op, ItemAnswer]],
        requeue: list[Op],
    ) -> None:
        """A request without a usable answer: send again what never acted, re-read the rest."""
        budget_left = (
            not failure.maybe_applied
            and failure.status != _THROTTLED
            and self.api.caller.budget.take()  # once per request, not per item
        )
        for op in batch:
            state = self.items[op.id]
            state.in_flight = False
            if state.outcome is not None:
                continue
            state.unconfirmed |= answer.unsure
            if (answer.unsure or failure.maybe_applied) and op.target is Target.DELETED:
                state.delete_unsure = True
            if not failure.maybe_applied:
                self._resend_later(op, failure, requeue, budget_left=budget_left)
            else:
                # It may have happened: read what did, then re-plan (never a blind re-send).
                state.unconfirmed = True
                self._recheck_later(op, ItemAnswer("refused", None, failure.message), recheck)

    def _resend_later(
        self, op: Op, failure: Failure, requeue: list[Op], *, budget_left: bool
    ) -> None:
        """Send again later a try that never acted (429, refused token, no connection).

        It is re-checked against what we know by then; 429s have their own, larger allowance,
        other failures draw on the run's retry budget (once per request, not per item).
        """
        state = self.items[op.id]
        if failure.status == _THROTTLED:
            state.rare.throttles += 1
            allowed = state.rare.throttles <= _MAX_THROTTLES
        else:
            allowed = budget_left and state.attempts < _MAX_ATTEMPTS
        if allowed:
            requeue.append(op)
        else:
            outcome = Outcome.UNKNOWN if state.unconfirmed else Outcome.FAILED
            self._settle(op.id, outcome, None, failure.message)

    def _on_answer(self, op: Op, answer: ItemAnswer) -> None:
        state = self.items[op.id]
        if answer.kind == "accepted":
            if op.target is Target.DELETED:
                self._settle(op.id, Outcome.DELETED, None, answer.message)
                return
            state.stopped_by_us = True
            if self.target is Target.STOPPED:
                self._settle(op.id, Outcome.STOPPED, None, answer.message)
            else:
                self._wait_for([op.id])
        elif answer.kind == "not_found":
            if state.delete_unsure:
                # After an unconfirmed delete, "not found" is most likely our own doing.
                self._settle(op.id, Outcome.DELETED, None, "gone after our unconfirmed delete")
            else:
                self._settle(op.id, Outcome.ALREADY_ABSENT, answer.code, answer.message)
        else:
            # A refusal after an unsure earlier try says nothing about that try.
            outcome = Outcome.UNKNOWN if state.unconfirmed else Outcome.FAILED
            self._settle(op.id, outcome, answer.code, answer.message)

    # Reading again when an answer surprised us.

    def _recheck_later(
        self, op: Op, answer: ItemAnswer, recheck: list[tuple[Op, ItemAnswer]]
    ) -> None:
        state = self.items[op.id]
        if state.rare.rereads >= _MAX_REREADS:
            outcome = Outcome.UNKNOWN if state.unconfirmed else Outcome.FAILED
            self._settle(op.id, outcome, answer.code, answer.message)
        else:
            state.rare.rereads += 1
            recheck.append((op, answer))

    async def _recheck(self, ops: list[tuple[Op, ItemAnswer]]) -> None:
        """Read the items again (as cheaply as possible), then re-plan each."""
        try:
            reads = await self._read_statuses(op.id for op, _ in ops)
        except ServiceError as error:
            failed = Failure(maybe_applied=False, status=error.status, message=str(error))
            reads = {op.id: failed for op, _ in ops}
        for op, answer in ops:
            # Flushed once when this task ends (see _start): flushing per item would send
            # each re-planned stop in a request of its own.
            self._replan(op, answer, reads[op.id], flush=False)

    def _replan(self, op: Op, answer: ItemAnswer, read: Read, *, flush: bool = True) -> None:
        """Take the path an item's fresh status calls for, minding our own earlier changes."""
        state = self.items[op.id]
        if isinstance(read, Failure):
            outcome = Outcome.UNKNOWN if state.unconfirmed else Outcome.FAILED
            self._settle(op.id, outcome, answer.code, f"{answer.message}; {read.message}")
            return
        state.status = read
        if self.journal is not None:
            self._unwritten[op.id] = None
        if state.unconfirmed and op.target is Target.STOPPED and read is Status.STOPPING:
            state.stopped_by_us = True  # our unconfirmed stop did happen
        path, reason = decide(self.kind, self.target, read)
        minded = self._mind_own_changes(op.id, state, path)
        if minded is None:
            return
        state.path = path = minded
        if path in SETTLED_PATHS:
            code = answer.code if path is Path.SKIP else None
            self._settle(op.id, _SETTLED_OUTCOME[path], code, reason)
        elif path is Path.WAIT_THEN_DELETE:
            self._wait_for([op.id])
        else:
            op_target = first_op(path)
            if op_target is not None:
                self._queue([Op(op.id, op_target)], flush=flush)

    def _mind_own_changes(self, item_id: str, state: ItemState, path: Path) -> Path | None:
        """The path, minding our own earlier changes; None when they settle the item."""
        status = state.status
        if status is None and state.delete_unsure:
            self._settle(item_id, Outcome.DELETED, None, "gone after our unconfirmed delete")
            return None
        if (
            state.unconfirmed
            and not state.delete_unsure
            and status is Status.STOPPING
            and self.target is Target.STOPPED
        ):
            state.stopped_by_us = True  # after a resume: our unconfirmed stop did happen
        if state.stopped_by_us and status is not None:
            # Our stop is under way or done: never stop it again.
            if self.target is Target.STOPPED:
                self._settle(item_id, Outcome.STOPPED, None, f"stopped; now {status.value}")
                return None
            if path is Path.STOP_THEN_DELETE:
                return Path.WAIT_THEN_DELETE
        return path

    # Waiting for STOPPING to pass.

    def _wait_for(self, item_ids: Iterable[str]) -> None:
        """Wait for these items to leave STOPPING; each one's wait runs from its first start."""
        now = self.clock()
        for item_id in item_ids:
            rare = self.items[item_id].rare
            if rare.waiting_since is None:
                rare.waiting_since = now
            self._waiting[item_id] = None
        self._start_waiter()

    def _start_waiter(self) -> None:
        if self._waiting and not self._waiter_running and self._group is not None:
            self._waiter_running = True
            self._start(self._wait_loop)

    async def _wait_loop(self) -> None:
        try:
            while self._waiting and not self._stopping:
                await self.sleep(self.settings.poll_interval)
                await self._poll()
                self.write_journal()
                self._flush(hold_check=True)
        finally:
            self._waiter_running = False

    async def _poll(self) -> None:
        # Only items already waiting when the list was asked for may be released by it: one
        # that started waiting meanwhile is missing from the list only because it is new.
        asked = list(self._waiting)
        listed: set[str] = set()
        stopping: set[str] | None = listed
        try:
            async for page in self.api.list_statuses(
                self.kind, status=Status.STOPPING, page_size=self.settings.page_size
            ):
                for item_id, _ in page:
                    listed.add(item_id)
                    tracked = self.items.get(item_id)
                    if tracked is not None and tracked.outcome is None:
                        tracked.status = Status.STOPPING  # news about queued changes, too
        except AuthenticationError:
            raise
        except ServiceError:
            stopping = None  # nothing learned this round; the stop wait still runs out
        now = self.clock()
        ready: list[Op] = []
        for item_id in asked:
            state = self.items[item_id]
            if item_id not in self._waiting:
                continue  # settled meanwhile
            if stopping is not None and item_id not in stopping:
                del self._waiting[item_id]
                state.status = None  # no longer STOPPING: nothing we know forbids a delete
                ready.append(Op(item_id, Target.DELETED))
            elif state.waiting_since is not None and (
                now - state.waiting_since >= self.settings.stop_wait
            ):
                done = "stopped, but " if state.stopped_by_us else ""
                self._settle(
                    item_id,
                    Outcome.FAILED,
                    None,
                    f"{done}still STOPPING after {self.settings.stop_wait:g} s; not deleted",
                )
        self._queue(ready, flush=False)

    # Packing later changes.

    def _queue(self, ops: Iterable[Op], *, flush: bool = True) -> None:
        for op in ops:
            if not self._later_count:
                self._later_since = self.clock()
            (self._later_stops if op.target is Target.STOPPED else self._later).append(op)
        if flush:
            self._flush()

    @property
    def _later_count(self) -> int:
        return len(self._later_stops) + len(self._later)

    def _take_later(self, count: int) -> list[Op]:
        """Up to ``count`` later changes, stops first."""
        batch: list[Op] = []
        for queue in (self._later_stops, self._later):
            while queue and len(batch) < count:
                batch.append(queue.popleft())
        return batch

    def _flush(self, *, hold_check: bool = False) -> None:
        """Send full requests while there is room; a partial one when nothing could fill it.

        Stops go first, even in a partial request: each one's wait should start soonest
        (a stop sent again after a 429 would otherwise wait behind every delete of the plan
        and add its whole stop wait at the end). Then the plan's first changes (which start
        with its stops), then later ones.
        """
        if self._stopping:
            return
        size = self.batch_size
        room = _AHEAD * self.api.caller.limiter.total_tokens - self._busy
        while room > 0 and self._later_stops:
            room -= self._send(self._take_later(size))
        while room > 0 and (batch := next(self._first, None)) is not None:
            room -= self._send(batch)
        while room > 0 and self._later_count >= size:
            room -= self._send(self._take_later(size))
        if not self._later_count:
            self._later_since = None
            return
        idle = self._busy == 0 and not self._waiting
        held_long = (
            room > 0
            and hold_check
            and self._later_since is not None
            and self.clock() - self._later_since >= self.settings.hold
        )
        if idle or held_long:
            batch = self._take_later(self._later_count)
            self._later_since = None
            self._send(batch)

    def _start(self, func: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run ``func`` in the run's task group; when it ends, flush what it queued."""
        if self._group is None:  # pragma: no cover - only called while dispatching
            raise RuntimeError("not dispatching")
        self._busy += 1

        async def tracked() -> None:
            try:
                await func(*args)
            finally:
                self._busy -= 1
                self.write_journal()
                self._flush()

        self._group.start_soon(tracked)

    # Outcomes.

    def _settle(
        self, item_id: str, outcome: Outcome, code: str | None, message: str | None
    ) -> None:
        state = self.items[item_id]
        if state.outcome is not None:
            return
        state.outcome, state.code, state.message = outcome, code, message
        self._waiting.pop(item_id, None)
        if self.journal is not None:
            self._unwritten[item_id] = None
        if self.listener is not None:
            self.listener(ItemSettled(self.result(item_id)))

    def finish(self, reason: str) -> None:
        """Settle whatever is still open when the run ends early."""
        for item_id, state in self.items.items():
            if state.outcome is not None:
                continue
            stopped = "stopped, not deleted: " if state.stopped_by_us else ""
            maybe = state.unconfirmed or state.in_flight
            outcome = Outcome.UNKNOWN if maybe else Outcome.FAILED
            self._settle(item_id, outcome, None, f"{stopped}{reason}")
        self.write_journal()

    def write_journal(self) -> None:
        """Write what changed since the last time, in one transaction."""
        if self.journal is None or not self._unwritten:
            return
        ids, self._unwritten = self._unwritten, {}
        self.journal.record(self.record(item_id) for item_id in ids)

    def record(self, item_id: str) -> ItemRecord:
        """One item's fate and flags, for the journal."""
        state = self.items[item_id]
        return ItemRecord(
            id=item_id,
            outcome=state.outcome,
            code=state.code,
            message=state.message,
            attempts=state.attempts,
            status=state.status.value if state.status is not None else None,
            unconfirmed=state.unconfirmed,
            delete_unsure=state.delete_unsure,
            stopped_by_us=state.stopped_by_us,
            in_flight=state.in_flight,
        )

    def result(self, item_id: str) -> ItemResult:
        """One item's result as the report shows it."""
        return _result(item_id, self.items[item_id])

    def take_results(self) -> list[ItemResult]:
        """Every item's result in input order; the engine lets go of the items as it goes.

        The run is over: a million states and a million results held at once would double
        the memory the report takes to make.
        """
        results = []
        with collector_paused():
            while self.items:
                results.append(_result(*self.items.popitem()))  # the last first: O(1) each
        results.reverse()
        return results

    def _emit(self, event: PlanReady | PhaseDone) -> None:
        if self.listener is not None:
            self.listener(event)


def _result(item_id: str, state: ItemState) -> ItemResult:
    # Positional, and the status as the str it is (a StrEnum's .value is a slow property):
    # this runs once per item of every report.
    status = state.status
    return ItemResult(
        item_id,
        state.outcome or Outcome.UNKNOWN,
        state.code,
        state.message,
        state.attempts,
        _STATUS_TEXT[status] if status is not None else None,
    )


#: Each status's plain text.
_STATUS_TEXT: Final = {status: status.value for status in Status}
