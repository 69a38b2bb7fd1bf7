"""Engine tests run the real client against the simulator over loopback HTTP.

Time is virtual: the simulator and the client read one manual clock, and the client's
sleeps advance it in deadline order, so a five-second stop wait takes no real time at all.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from aicore_bulk import AiohttpTransport, BulkClient
from aicore_bulk.testing import ManualClock, RunningSimulator


class CountingTransport:
    """Wraps a transport and counts requests in flight, so virtual time knows when to jump."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self.inner = inner
        self.in_flight = 0

    async def send(self, request):
        """Send through the wrapped transport."""
        self.in_flight += 1
        try:
            return await self.inner.send(request)
        finally:
            self.in_flight -= 1

    async def aclose(self):
        """Close the wrapped transport."""
        await self.inner.aclose()


class VirtualTime:
    """Sleeps that take no real time, woken in deadline order (like trio's autojump clock).

    Time jumps to the earliest deadline only when no request is in flight and every runnable
    task has had its turn, so concurrent sleepers see time pass as they would in real life.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.transports: list[CountingTransport] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._keeper: asyncio.Task[None] | None = None
        self.slept = 0.0

    async def __call__(self, seconds: float) -> None:
        """Sleep ``seconds`` of virtual time."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self.slept += seconds
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.clock() + seconds, next(self._order), waiter))
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep())
        await waiter

    def _busy(self) -> bool:
        return any(t.in_flight for t in self.transports)

    async def _keep(self) -> None:
        while self._sleepers:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            if self._busy():
                continue
            deadline, _, waiter = heapq.heappop(self._sleepers)
            if waiter.done():  # cancelled
                continue
            self.clock.now = max(self.clock.now, deadline)
            waiter.set_result(None)


#: Event-loop turns that let woken tasks run until they block again.
_SETTLE_TURNS = 20


@pytest.fixture
def simulated_sleep(aicore_clock):
    return VirtualTime(aicore_clock)


@pytest.fixture
def make_client(
    aicore_server: RunningSimulator, aicore_clock, simulated_sleep
) -> Callable[..., BulkClient]:
    """Build clients of the served simulator; every option can be overridden."""

    def make(**options) -> BulkClient:
        creds = aicore_server.credentials
        settings = {
            "base_url": aicore_server.base_url,
            "auth_url": aicore_server.token_url,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "resource_group": "default",
            "clock": aicore_clock,
            "wall_clock": aicore_clock,
            "sleep": simulated_sleep,
            "poll_interval": 1.0,
        }
        settings.update(options)
        transport = CountingTransport(AiohttpTransport())
        simulated_sleep.transports.append(transport)
        settings.setdefault("transport", transport)
        return BulkClient(**settings)

    return make


@pytest_asyncio.fixture
async def client(make_client) -> AsyncIterator[BulkClient]:
    async with make_client() as bulk:
        yield bulk
