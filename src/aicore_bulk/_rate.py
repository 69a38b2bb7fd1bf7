"""Pacing: a user's rate cap, an adaptive rate learned from 429s, and a shared pause.

The service's limit is never told to us, so the pacer learns it:

* it starts unpaced (only the concurrency limit applies);
* a 429 pauses every request until its ``Retry-After`` (every other request would only draw
  another 429), and sets a *ceiling*: the rate of successful answers over the last second,
  which is what the gateway let through; the pacer then sends at 95 % of it;
* while no 429 comes, the ceiling grows: it doubles every second until the second 429
  (slow start: the first estimate is taken from a very short window), then by a quarter
  every two seconds (probing, in case the limit was raised).

Each 429 costs a whole ``Retry-After`` of idle time, so the controller aims to draw few of
them: it approaches the ceiling from below instead of oscillating around it. A user's
``rate`` caps it all.
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
#: Successes are counted over this window to estimate what the gateway lets through.
_WINDOW: Final = 1.0
#: The shortest window an estimate is taken over (the first 429 comes within milliseconds).
_MIN_WINDOW: Final = 0.25
#: Send at this share of the ceiling.
_HEADROOM: Final = 0.95
#: Ceiling growth while no 429 comes: x2 per second before the second 429, then +25 % / 2 s.
_SLOW_START: Final = (2.0, 1.0)
_PROBE: Final = (1.25, 2.0)


@attrs.define(eq=False)
class Pacer:
    """Decides when each request may go."""

    clock: Clock
    sleep: Sleep
    #: The user's cap in requests per second (None: none).
    cap: float | None = None
    #: False: never change the rate, only pause for ``Retry-After``.
    adaptive: bool = True
    #: The adaptive rate (None until the first 429: unpaced).
    rate: float | None = attrs.field(default=None, init=False)
    _ceiling: float | None = attrs.field(default=None, init=False)
    _throttles: int = attrs.field(default=0, init=False)
    _grown_at: float = attrs.field(default=0.0, init=False)
    _next_slot: float = attrs.field(default=0.0, init=False)
    _paused_until: float = attrs.field(default=0.0, init=False)
    _burst_until: float = attrs.field(default=float("-inf"), init=False)
    _first: float | None = attrs.field(default=None, init=False)
    _counting_from: float = attrs.field(default=float("-inf"), init=False)
    _successes: collections.deque[float] = attrs.field(factory=collections.deque, init=False)

    @property
    def effective_rate(self) -> float | None:
        """The rate in force: the lower of the cap and the adaptive rate."""
        if self.cap is None:
            return self.rate
        if self.rate is None:
            return self.cap
        return min(self.cap, self.rate)

    async def wait_turn(self) -> None:
        """Wait until this request may go."""
        while True:
            now = self.clock()
            if self._first is None:
                self._first = now
            rate = self.effective_rate
            start = max(now, self._paused_until, self._next_slot if rate else now)
            if start <= now:
                if rate:
                    self._next_slot = now + 1.0 / rate
                return
            if rate and start == self._next_slot:
                # Claim this slot so that concurrent waiters line up behind it.
                self._next_slot = start + 1.0 / rate
                await self.sleep(start - now)
                if self.clock() >= self._paused_until:
                    return
                continue
            await self.sleep(start - now)

    def throttled(self, retry_after: float) -> None:
        """A 429: pause everyone for ``retry_after``; learn the ceiling (once per burst)."""
        now = self.clock()
        self._paused_until = max(self._paused_until, now + retry_after)
        self._next_slot = max(self._next_slot, self._paused_until)
        if now < self._burst_until or not self.adaptive:
            return  # the other 429s of the same burst teach nothing new
        self._burst_until = self._paused_until + _MIN_WINDOW
        self._throttles += 1
        self._ceiling = max(MIN_RATE, self._goodput(now))
        self._grown_at = self._paused_until
        self._counting_from = self._paused_until  # a pause is not a slow second
        self.rate = max(MIN_RATE, _HEADROOM * self._ceiling)

    def succeeded(self) -> None:
        """A request went through: count it, and grow the ceiling while no 429 comes."""
        now = self.clock()
        self._successes.append(now)
        if self._ceiling is None:
            return
        factor, every = _SLOW_START if self._throttles < 2 else _PROBE  # noqa: PLR2004
        if now - self._grown_at >= every:
            self._ceiling *= factor
            self._grown_at = now
            self.rate = max(MIN_RATE, _HEADROOM * self._ceiling)

    def _goodput(self, now: float) -> float:
        """Successful answers per second over the last window (shorter early in the run)."""
        while self._successes and self._successes[0] < now - _WINDOW:
            self._successes.popleft()
        start = max(self._first if self._first is not None else now, self._counting_from)
        window = min(_WINDOW, max(now - start, _MIN_WINDOW))
        return len(self._successes) / window
