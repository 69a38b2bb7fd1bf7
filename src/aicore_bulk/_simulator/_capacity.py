"""The server's capacity: at most so many AI API requests served at once, the rest queued.

A real service has a finite number of workers behind its gateway: beyond them, requests
wait, first come first served, and only their latency grows. The simulated latency and
the handler both count as being served (a worker is busy for the whole round trip the
server adds). Refusals the gateway makes on arrival (401, 429, injected 5xx) never reach a
worker. Unlimited by default, as the simulator was before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

import attrs

from aicore_bulk._clock import Clock
from aicore_bulk._simulator._stats import Recorder


@attrs.define(eq=False)
class Capacity:
    """Admits at most ``limit`` requests at once (None: any number), in arrival order."""

    limit: int | None
    clock: Clock
    #: Requests being served now.
    serving: int = attrs.field(default=0, init=False)
    _waiting: collections.deque[asyncio.Future[None]] = attrs.field(
        factory=collections.deque, init=False
    )

    @contextlib.asynccontextmanager
    async def served(self, recorder: Recorder) -> AsyncIterator[None]:
        """Hold a place for the block, after waiting for one; time it for the statistics."""
        arrived = self.clock.monotonic()
        await self._enter(recorder)
        try:
            yield
        finally:
            self._leave()
            recorder.served.append(self.clock.monotonic() - arrived)

    async def _enter(self, recorder: Recorder) -> None:
        if self.limit is None or (self.serving < self.limit and not self._waiting):
            self.serving += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        recorder.waiting(len(self._waiting))
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._leave()  # handed a place just as it gave up: pass it on
            elif turn in self._waiting:
                self._waiting.remove(turn)
            raise

    def _leave(self) -> None:
        """Hand the place to the first waiter, if any (``serving`` stays), or free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.serving -= 1
