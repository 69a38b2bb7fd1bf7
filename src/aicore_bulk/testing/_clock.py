"""Virtual time: a :class:`~aicore_bulk._clock.Clock` whose sleeps take no real time.

A five-second stop wait, a 30-second ``Retry-After`` and a ten-minute deadline all pass at
once, yet in the order they would in real life. Give the same clock to the simulator and to
the client, and the simulator's items move on that time too. (It lives here, not beside the
simulator: it wraps the client's transport, and the simulator imports no client code.)

Time jumps to the earliest sleeper's deadline only when no other task is ready to run
and no tracked request is in flight (as trio's ``MockClock`` with ``autojump_threshold=0``):
wrap the client's transport with :meth:`VirtualClock.track` so the clock knows when requests
are on their way. A request that itself waits on this clock (the simulator's latency fault)
would otherwise never end: when the requests in flight make no progress for a while, they
are taken to be waiting on virtual time, and time jumps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Final

from aicore_bulk._transport import Request, Response, Transport

#: 2026-01-01T00:00:00Z: a fixed start makes timestamps in answers reproducible.
DEFAULT_START: Final = 1_767_225_600.0
#: Event-loop turns that let woken tasks run until they block again (without ``_ready``).
_SETTLE_TURNS: Final = 20
#: Turns in a row with nothing else ready to run: the other tasks all wait.
_IDLE_TURNS: Final = 3
#: Rounds of settling with requests in flight but no progress, before they are taken to be
#: waiting on virtual time themselves (a request on loopback needs a few turns, a large
#: page some dozens: this is far more).
_STALL_ROUNDS: Final = 50


class VirtualClock:
    """Virtual time for tests: ``monotonic()`` and ``time()`` read it, ``sleep()`` jumps it.

    Args:
        start: Seconds since the epoch at the start.

    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._keeper: asyncio.Task[None] | None = None
        self._in_flight = 0
        #: Bumped whenever a tracked request starts or ends: requests in flight move on.
        self._progress = 0
        #: Seconds all sleepers together asked for (what a test saved in real time).
        self.slept = 0.0

    def __repr__(self) -> str:
        return f"<VirtualClock now={self.now:.3f}>"

    def monotonic(self) -> float:
        """The virtual time."""
        return self.now

    def time(self) -> float:
        """The virtual time, as seconds since the epoch."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, waking the sleepers whose time has come."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time (no real time passes)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self.slept += seconds
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), waiter))
        if self._keeper is None or self._keeper.done():
            self._keeper = loop.create_task(self._keep())
        await waiter

    def track(self, transport: Transport) -> Transport:
        """``transport``, counting its requests in flight so that time waits for them."""
        return _TrackedTransport(self, transport)

    async def _keep(self) -> None:
        stalled, seen = 0, self._progress
        while self._sleepers:
            await _settle()
            if self._in_flight and seen != self._progress:
                stalled, seen = 0, self._progress
                continue
            if self._in_flight and stalled < _STALL_ROUNDS:
                stalled += 1
                continue
            stalled = 0
            deadline, _, waiter = heapq.heappop(self._sleepers)
            if waiter.done():  # cancelled
                continue
            self.now = max(self.now, deadline)
            waiter.set_result(None)


async def _settle() -> None:
    """Yield until every other task is blocked: nothing is ready to run for a few turns.

    asyncio has no public "idle" signal. Its loop keeps the callbacks ready to run in
    ``_ready`` (unchanged since Python 3.4); where a loop has none (uvloop), a fixed number
    of turns stands in. A few idle turns in a row also let the loop poll its sockets, so a
    reply already on its way over loopback is taken in before time moves.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:  # pragma: no cover - another event loop
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)
        return
    idle = 0
    while idle < _IDLE_TURNS:
        await asyncio.sleep(0)
        idle = idle + 1 if not ready else 0


class _TrackedTransport:
    """A transport whose requests in flight a :class:`VirtualClock` waits for."""

    def __init__(self, clock: VirtualClock, inner: Transport) -> None:
        self._clock = clock
        self._inner = inner

    def __repr__(self) -> str:
        return f"<tracked {self._inner!r}>"

    async def send(self, request: Request) -> Response:
        """Send through the wrapped transport, counted as in flight."""
        clock = self._clock
        clock._in_flight += 1  # noqa: SLF001 - the clock's own helper
        clock._progress += 1  # noqa: SLF001
        try:
            return await self._inner.send(request)
        finally:
            clock._in_flight -= 1  # noqa: SLF001
            clock._progress += 1  # noqa: SLF001

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
