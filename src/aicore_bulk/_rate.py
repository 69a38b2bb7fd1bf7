"""Pacing: a user's rate cap, an adaptive rate learned from 429s, and a shared pause.

The service's limit is never told to us, so the pacer learns it, as TCP and botocore's
adaptive retry mode do: it starts unpaced (only the concurrency limit applies), halves its
rate at the first sign of throttling (a 429), and then grows back by a tenth per second of
successful sending. A 429 also pauses every request until its ``Retry-After``, because every
other request would only draw another 429. A user's ``rate`` caps it all.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: The adaptive rate never drops below this many requests per second.
MIN_RATE: Final = 0.5
#: After a decrease, further 429s within this many seconds belong to the same burst.
_SAME_BURST: Final = 1.0
#: Window over which the actual sending rate is measured.
_WINDOW: Final = 1.0
_GROWTH_PER_SECOND: Final = 0.1


@attrs.define(eq=False)
class Pacer:
    """Decides when each request may go."""

    clock: Clock
    sleep: Sleep
    #: The user's cap in requests per second (None: none).
    cap: float | None = None
    #: The adaptive rate (None until the first 429: unpaced).
    rate: float | None = attrs.field(default=None, init=False)
    _next_slot: float = attrs.field(default=0.0, init=False)
    _paused_until: float = attrs.field(default=0.0, init=False)
    _last_decrease: float = attrs.field(default=float("-inf"), init=False)
    _sent: collections.deque[float] = attrs.field(factory=collections.deque, init=False)

    @property
    def effective_rate(self) -> float | None:
        """The rate in force: the lower of the cap and the adaptive rate."""
        if self.cap is None:
            return self.rate
        if self.rate is None:
            return self.cap
        return min(self.cap, self.rate)

    async def wait_turn(self) -> None:
        """Wait until this request may go, then count it as sent."""
        while True:
            now = self.clock()
            rate = self.effective_rate
            start = max(now, self._paused_until, self._next_slot if rate else now)
            if start <= now:
                break
            if rate and start == self._next_slot:
                # Claim this slot so that concurrent waiters line up behind it.
                self._next_slot = start + 1.0 / rate
                await self.sleep(start - now)
                if self.clock() >= self._paused_until:
                    self._record(self.clock())
                    return
                continue
            await self.sleep(start - now)
        if rate:
            self._next_slot = now + 1.0 / rate
        self._record(now)

    def throttled(self, retry_after: float) -> None:
        """A 429: pause everyone for ``retry_after`` and halve the rate (once per burst)."""
        now = self.clock()
        self._paused_until = max(self._paused_until, now + retry_after)
        if now - self._last_decrease < _SAME_BURST + retry_after:
            return
        self._last_decrease = now
        current = self.rate if self.rate is not None else self._measured(now)
        self.rate = max(MIN_RATE, current / 2)
        self._next_slot = max(self._next_slot, self._paused_until)

    def succeeded(self) -> None:
        """A request went through: grow the adaptive rate a little."""
        if self.rate is not None:
            self.rate += max(1.0, _GROWTH_PER_SECOND * self.rate) / self.rate

    @property
    def paused_until(self) -> float:
        """Clock time until which requests are held."""
        return self._paused_until

    def _record(self, now: float) -> None:
        self._sent.append(now)
        while self._sent and self._sent[0] < now - _WINDOW:
            self._sent.popleft()

    def _measured(self, now: float) -> float:
        """Requests sent in the last second (at least 1)."""
        while self._sent and self._sent[0] < now - _WINDOW:
            self._sent.popleft()
        return max(1.0, len(self._sent) / _WINDOW)
