"""The change queue: which changes go out next, and when a partial request may go.

Three sources, taken in this order:

1. later stops (sent again after a 429, or re-planned): each gates a stop wait of its own,
   so it goes first, even in a partial request; behind every delete of the plan it would
   add its whole stop wait to the end of a throttled run;
2. the plan's first changes, cut into requests only as they are taken (a million Ops made
   up front would cost memory for nothing), stops first;
3. later changes (deletes after a stop, re-plans), packed into full requests as they fill.

A partial request of later changes goes only when nothing could still fill it (the caller
says the run is idle) or when its oldest change has waited ``batch_wait`` seconds.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Sequence

import attrs

from aicore_bulk._models import Op, Target
from aicore_bulk._planner import pack


@attrs.define(eq=False)
class ChangeQueue:
    """Changes waiting for a request."""

    #: Seconds a later change may wait for others to fill its request.
    batch_wait: float
    _first: Iterator[list[Op]] = attrs.field(factory=lambda: iter(()), init=False)
    #: Later changes with the time each was queued, oldest first.
    _later_stops: collections.deque[tuple[Op, float]] = attrs.field(
        factory=collections.deque, init=False
    )
    _later: collections.deque[tuple[Op, float]] = attrs.field(factory=collections.deque, init=False)

    def start(self, stops: Sequence[str], deletes: Sequence[str], *, size: int) -> None:
        """Queue the plan's first changes, to be cut into requests of ``size`` as taken."""
        self._first = pack(stops, deletes, size=size)

    def add(self, ops: Iterable[Op], *, now: float) -> None:
        """Queue later changes."""
        for op in ops:
            (self._later_stops if op.target is Target.STOPPED else self._later).append((op, now))

    def __len__(self) -> int:
        """Later changes waiting (the plan's first ones are not counted)."""
        return len(self._later_stops) + len(self._later)

    def take(self, size: int, *, now: float, idle: bool, hold_check: bool) -> list[Op] | None:
        """The next request's changes, or None when nothing should go now.

        ``idle``: nothing is under way that could add changes, so a partial request goes.
        ``hold_check``: a partial request may also go if it has waited ``batch_wait``.
        """
        if self._later_stops:
            return self._take_later(size)
        batch = next(self._first, None)
        if batch is not None:
            return batch
        waiting = len(self)
        if waiting >= size:
            return self._take_later(size)
        if not waiting:
            return None
        if idle or (hold_check and now - self._oldest() >= self.batch_wait):
            return self._take_later(waiting)
        return None

    def cut_for_single(self) -> None:
        """From now on every request carries one item (bulk updates turned out to be off)."""
        self._first = ([op] for ops in self._first for op in ops)

    def _take_later(self, count: int) -> list[Op]:
        """Up to ``count`` later changes, stops first."""
        batch: list[Op] = []
        for queue in (self._later_stops, self._later):
            while queue and len(batch) < count:
                batch.append(queue.popleft()[0])
        return batch

    def _oldest(self) -> float:
        """When the oldest later change still waiting was queued (there is one)."""
        return min(queue[0][1] for queue in (self._later_stops, self._later) if queue)
