"""The dispatcher: sends the queued changes under the concurrency limit until all settle.

It owns the task group and little else. Each request's answer goes through the per-item
state machine (:mod:`aicore_bulk._transitions`); the actions that come back are carried out
here: an outcome to the book, a change to the queue, a re-read to the reader, a stop wait
to :class:`~aicore_bulk._stop_wait.StopWait`. After every task the journal is written and
the queue flushed, so the run moves as soon as there is room.

Requests are started only while fewer than ``_AHEAD`` times the concurrency are under way:
a million items never make ten thousand tasks wait at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import anyio.abc
import attrs

from aicore_bulk._api import Api, ChangeAnswer
from aicore_bulk._book import ItemBook
from aicore_bulk._caller import Failure
from aicore_bulk._clock import Clock
from aicore_bulk._errors import ServiceError
from aicore_bulk._events import PhaseDone
from aicore_bulk._gc import collector_paused
from aicore_bulk._models import MAX_BATCH, Op
from aicore_bulk._queue import ChangeQueue
from aicore_bulk._reads import StatusReader
from aicore_bulk._retry import RetryBudget
from aicore_bulk._routing import Routed
from aicore_bulk._stop_wait import StopWait
from aicore_bulk._transitions import (
    IN_FLIGHT,
    STALE,
    Action,
    Goal,
    Recheck,
    Send,
    Settle,
    Unreadable,
    after_answer,
    after_failure,
    after_read,
    still_allowed,
)

#: Requests started ahead of the concurrency limit, so the limiter always has the next one.
_AHEAD: Final = 2
_NOT_FOUND: Final = 404
_THROTTLED: Final = 429


@attrs.define(eq=False)
class Dispatcher:
    """Runs one run's changes to the end."""

    goal: Goal
    api: Api
    book: ItemBook
    reader: StatusReader
    queue: ChangeQueue
    stop_wait: StopWait
    clock: Clock
    #: Requests in flight at once (the caller's limiter enforces it; here it sizes the room).
    concurrency: int
    #: Retries left in the run, shared with the caller.
    budget: RetryBudget
    #: Tells the caller to send nothing more (an interruption).
    halt_caller: Callable[[], None]
    poll_interval: float
    #: Whether the bulk endpoint is used; False after it turned out to be missing.
    bulk: bool
    _busy: int = attrs.field(default=0, init=False)
    _waiter_running: bool = attrs.field(default=False, init=False)
    _group: anyio.abc.TaskGroup | None = attrs.field(default=None, init=False)
    #: Set by :meth:`stop_sending`: no new request goes out; answers are still taken in.
    _halted: bool = attrs.field(default=False, init=False)

    @property
    def batch_size(self) -> int:
        """Items per request: 100 in bulk, 1 with single calls."""
        return MAX_BATCH if self.bulk else 1

    async def dispatch(self, routed: Routed) -> None:
        """Send every change the routes call for, until every item has settled."""
        self.queue.start(routed.stops, routed.deletes, size=self.batch_size)
        with collector_paused():  # there may be many
            self.stop_wait.add(routed.waits)
        async with anyio.create_task_group() as group:
            self._group = group
            self._flush()
            self._start_waiter()
        self._group = None
        self.book.write_journal()
        self.book.emit(PhaseDone("dispatch"))

    def stop_sending(self) -> None:
        """Send nothing more (an interruption): requests in flight may still be answered."""
        self._halted = True
        self.stop_wait.clear()
        self.halt_caller()

    # Room to send.

    def _flush(self, *, hold_check: bool = False) -> None:
        """Send what the queue gives while there is room (see :mod:`aicore_bulk._queue`)."""
        if self._halted:
            return
        room = _AHEAD * self.concurrency - self._busy
        while room > 0:
            batch = self.queue.take(
                self.batch_size,
                now=self.clock.monotonic(),
                idle=self._busy == 0 and not self.stop_wait,
                hold_check=hold_check,
            )
            if batch is None:
                return
            room -= self._send(batch)

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
                self.book.write_journal()
                self._flush()

        self._group.start_soon(tracked)

    def _send(self, batch: list[Op]) -> int:
        """Start a request with what of ``batch`` may still go; 1 if one was started, else 0."""
        if self._halted:
            return 0  # the items stay open; the run reports them as not sent
        items, goal = self.book.items, self.goal
        current: list[Op] = []
        for op in batch:
            state = items[op.id]
            if state.outcome is not None:
                continue
            if not still_allowed(goal, op, state):
                # What we learned since this change was planned forbids it: plan again.
                self._apply(op.id, after_read(self.goal, state, op, STALE, state.status))
                continue
            state.flags |= IN_FLIGHT  # not the property: once per item of every request
            state.attempts += 1
            current.append(op)
        if not current:
            return 0
        self._start(self._run_batch, current)
        return 1

    # One change request.

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
            state = self.book.items[op.id]
            state.in_flight = False
            state.attempts -= 1
            self._apply(op.id, after_read(self.goal, state, op, STALE, state.status))
        if not batch:
            return
        if answer.failure is not None and not answer.failure.sent:
            # Interrupted while it waited for its turn: it carried nothing, and its items
            # are reported as never sent.
            self._give_back(batch)
        elif in_bulk and answer.status == _NOT_FOUND:
            self._fall_back_to_single(batch, answer)
        else:
            self._absorb(batch, answer)
        if self.book.journal is not None:  # the list is only for the journal
            self.book.touch([op.id for op in batch])

    async def _change(self, batch: list[Op], stale: list[Op], *, in_bulk: bool) -> ChangeAnswer:
        """Send one change request; ``batch`` keeps what went, ``stale`` gets what did not."""
        items, goal, journal = self.book.items, self.goal, self.book.journal
        kind = goal.kind

        def still_wanted() -> list[Op]:
            # The request may have queued for seconds: drop what newer knowledge forbids.
            keep = [op for op in batch if still_allowed(goal, op, items[op.id])]
            if len(keep) < len(batch):  # rare; the IDs of one request are distinct
                kept = {op.id for op in keep}
                stale.extend(op for op in batch if op.id not in kept)
            batch[:] = keep
            if journal is not None:
                journal.sending(keep)  # before it goes: a kill now leaves them in doubt
            return keep

        try:
            if in_bulk:
                return await self.api.change_in_bulk(kind, batch, last_look=still_wanted)
            if journal is not None:
                journal.sending(batch)
            return await self.api.change_one(kind, batch[0])
        except ServiceError:
            # The service refused the run as a whole (403, a bad resource group): this
            # request did nothing, so its items are not in doubt when the run stops.
            for op in batch:
                items[op.id].in_flight = False
            raise

    def _fall_back_to_single(self, batch: list[Op], answer: ChangeAnswer) -> None:
        """Meta promised a bulk endpoint that is not there: send these one by one."""
        self.bulk = False
        self.queue.cut_for_single()  # the plan's first requests were cut for bulk
        for op in batch:
            self.book.items[op.id].unconfirmed |= answer.unsure
        self._give_back(batch)

    def _give_back(self, ops: list[Op]) -> None:
        """Changes taken for a request that will not carry them: queue them again, unsent."""
        for op in ops:
            state = self.book.items[op.id]
            state.in_flight = False
            state.attempts -= 1
        self.queue.add(ops, now=self.clock.monotonic())

    def _absorb(self, batch: list[Op], answer: ChangeAnswer) -> None:
        """Carry out what each item's answer calls for."""
        rechecks: list[Recheck] = []
        failure = answer.failure
        goal, items, apply = self.goal, self.book.items, self._apply
        if failure is None:
            # The common case, once per item of every request: kept to plain lookups.
            answers, unsure, settle = answer.answers, answer.unsure, self.book.settle
            for op in batch:
                action = after_answer(goal, items[op.id], op, answers.get(op.id), unsure=unsure)
                if type(action) is Settle:  # most answers: one call less than _apply
                    settle(op.id, *action)
                else:
                    apply(op.id, action, rechecks)
        else:
            throttled = failure.status == _THROTTLED
            # The retry budget is drawn on once per request, not per item.
            budget_left = not failure.maybe_applied and not throttled and self.budget.take()
            for op in batch:
                action = after_failure(
                    items[op.id],
                    op,
                    maybe_applied=failure.maybe_applied,
                    throttled=throttled,
                    unsure=answer.unsure,
                    message=failure.message,
                    budget_left=budget_left,
                )
                apply(op.id, action, rechecks)
        if rechecks:
            self._start(self._recheck, rechecks)

    def _apply(self, item_id: str, action: Action, rechecks: list[Recheck] | None = None) -> None:
        """Carry out one item's action. Re-reads are collected (one read for many items)."""
        if action is None:
            return
        if isinstance(action, Settle):
            self.book.settle(item_id, *action)
        elif isinstance(action, Send):
            self.queue.add([action.op], now=self.clock.monotonic())
        elif isinstance(action, Recheck):
            if rechecks is None:  # pragma: no cover - only answers ask for a re-read
                raise RuntimeError("a re-read outside an answer")
            rechecks.append(action)
        else:
            self.stop_wait.add([item_id])
            self._start_waiter()

    # Reading again when an answer surprised us.

    async def _recheck(self, rechecks: list[Recheck]) -> None:
        """Read the items again (as cheaply as possible), then take each one's route."""
        try:
            reads = await self.reader.read(recheck.op.id for recheck in rechecks)
        except ServiceError as error:
            failed = Failure(maybe_applied=False, status=error.status, message=str(error))
            reads = {recheck.op.id: failed for recheck in rechecks}
        items = self.book.items
        for op, answer in rechecks:
            read = reads[op.id]
            fresh = Unreadable(read.message) if isinstance(read, Failure) else read
            self._apply(op.id, after_read(self.goal, items[op.id], op, answer, fresh))
        self.book.touch([recheck.op.id for recheck in rechecks])

    # Waiting for STOPPING to pass.

    def _start_waiter(self) -> None:
        if self.stop_wait and not self._waiter_running and self._group is not None:
            self._waiter_running = True
            self._start(self._wait_loop)

    async def _wait_loop(self) -> None:
        try:
            while self.stop_wait and not self._halted:
                await self.clock.sleep(self.poll_interval)
                ready = await self.stop_wait.poll()
                self.book.write_journal()
                self.queue.add(ready, now=self.clock.monotonic())
                self._flush(hold_check=True)
        finally:
            self._waiter_running = False
