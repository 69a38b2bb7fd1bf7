"""Time, as one object: the :class:`Clock` every timed part of a run reads and sleeps on.

Three readings of time used to travel as three arguments (a monotonic clock, a sleep and a
wall clock). They belong together: a fake that moves one must move the others, or a test
sees a ``Retry-After`` date that never comes or a stop wait that never ends. Tests and users
swap the whole clock (``aicore_bulk.testing.VirtualClock``), never a part of it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Where a run reads the time and waits."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: for durations and deadlines."""
        ...

    def time(self) -> float:
        """Seconds since the epoch: for ``Retry-After`` dates and items' ages."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real time: :func:`time.monotonic`, :func:`time.time` and :func:`asyncio.sleep`."""

    def __repr__(self) -> str:
        return "<SystemClock>"

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def time(self) -> float:
        """:func:`time.time`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """:func:`asyncio.sleep`."""
        await asyncio.sleep(seconds)


#: The clock used wherever none is given.
SYSTEM_CLOCK = SystemClock()
