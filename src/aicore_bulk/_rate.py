"""Pacing: a user's rate cap, an adaptive rate learned from 429s, and a shared pause.

The service's limit is never told to us, so the pacer learns it:

* it starts unpaced (only the concurrency limit applies), so unthrottled runs never slow;
* every 429 pauses every request until its ``Retry-After`` (every other request would only
  draw another 429); the 429s of requests sent before that pause began are the same *event*
  and teach nothing new;
* the first event measures the gateway's burst (what came back while the throttled request
  was on its way) and starts a slow start at what came back in the last second, doubling
  every quarter second (or round trip, if longer) until the next event;
* every later event estimates the limit from the successes since the last pause: a token
  bucket lets through at most its burst plus ``limit`` per second in any window, so the
  largest ``(successes - burst) / window`` over the windows that end at the 429 is a
  measure of the limit over the whole time, not one taken from a handful of answers;
* the rate then drops to a share of that estimate and grows back along a cubic curve (as
  TCP CUBIC and botocore's adaptive mode do): fast while far below the estimate, flat near
  it, then probing beyond it, slowly at first, in case the limit was raised.

Each 429 event costs a whole ``Retry-After`` of idle time, so the controller draws few: it
settles under the limit instead of oscillating around it. A user's ``rate`` caps it all.

What a run learned (:meth:`Pacer.learned`) can start the next one (:meth:`Pacer.restore`,
see ``_memory``): it begins where the curve begins after an event, at a share of the
remembered limit, and climbs and probes from there, so it neither pays the first run's 429s
again nor stays under a limit that has been raised.
"""

from __future__ import annotations

import collections
import contextvars
import math
from typing import Final

import anyio
import attrs

from aicore_bulk._clock import Clock
from aicore_bulk._memory import LearnedLimits

#: The adaptive rate never drops below this many requests per second.
MIN_RATE: Final = 0.5
#: Slow start: the rate doubles every this many seconds (or every round trip, if longer)
#: until the first estimate. Faster than a round trip, it would grow many times over before
#: the first 429 of an overshoot could come back.
_DOUBLING: Final = 0.25
#: Beyond this many doublings the rate is unpaced in all but name (and floats stay finite).
_MAX_DOUBLINGS: Final = 64.0
#: After an event the rate drops to this share of the estimated limit.
_BETA: Final = 0.8
#: Seconds the cubic curve takes to climb back to the estimate (then it probes beyond).
_PLATEAU: Final = 8.0
#: The slow start begins at the successes of this many seconds before the first 429.
_RECENT: Final = 1.0
#: The estimate looks at most this many successes back.
_REMEMBERED: Final = 4096

#: When, and after which event, the current task's request was sent: ``(pacer, events, at)``.
_SENT: contextvars.ContextVar[tuple[int, int, float]] = contextvars.ContextVar("aicore_bulk_sent")


@attrs.define(eq=False)
class Pacer:
    """Decides when each request may go."""

    clock: Clock
    #: The user's cap in requests per second (None: none).
    cap: float | None = None
    #: False: never change the rate, only pause for ``Retry-After``.
    adaptive: bool = True
    #: The adaptive rate (None until the first 429: unpaced).
    rate: float | None = attrs.field(default=None, init=False)
    #: The estimated limit (None until the second 429 event).
    ceiling: float | None = attrs.field(default=None, init=False)
    #: The estimated burst: how many requests the gateway lets through at once.
    burst: float | None = attrs.field(default=None, init=False)
    #: 429 events learned from (the 429s of requests sent before an event do not count).
    events: int = attrs.field(default=0, init=False)
    #: Throttling episodes, adaptive or not: a 429 of a request sent after the last
    #: episode began starts a new one (what the log reports, once each).
    episodes: int = attrs.field(default=0, init=False)
    _episode_began: float = attrs.field(default=float("-inf"), init=False)
    #: When the limit was last learned from (seconds since the epoch; None: never).
    _learned_at: float | None = attrs.field(default=None, init=False)
    _start_rate: float = attrs.field(default=0.0, init=False)
    _doubling: float = attrs.field(default=_DOUBLING, init=False)
    _since: float = attrs.field(default=float("-inf"), init=False)
    _last_sent: float = attrs.field(default=float("-inf"), init=False)
    _paused_until: float = attrs.field(default=float("-inf"), init=False)
    _queue: collections.deque[anyio.Event] = attrs.field(factory=collections.deque, init=False)
    #: When each success since the last pause came (the latest ``_REMEMBERED``).
    _successes: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=_REMEMBERED), init=False
    )

    @property
    def effective_rate(self) -> float | None:
        """The rate in force: the lower of the cap and the adaptive rate."""
        if self.cap is None:
            return self.rate
        if self.rate is None:
            return self.cap
        return min(self.cap, self.rate)

    async def wait_turn(self) -> None:
        """Wait until this request may go.

        Waiters line up first come, first served, and only the first of them watches the
        clock: each takes the next slot at the rate in force when its turn comes, so a rate
        that grows while they wait takes effect at once (slots claimed ahead would not).
        """
        now = self.clock.monotonic()
        if not self._queue and self._start(now) <= now:
            self._go(now)
            return
        turn = anyio.Event()
        self._queue.append(turn)
        try:
            if self._queue[0] is not turn:
                await turn.wait()
            while (start := self._start(now := self.clock.monotonic())) > now:
                await self.clock.sleep(start - now)
            self._go(now)
        finally:
            self._queue.remove(turn)
            if self._queue:
                self._queue[0].set()

    def throttled(self, retry_after: float) -> bool:
        """A 429: pause everyone for ``retry_after``; learn from it once per event.

        Returns True when the 429 begins a new throttling episode.
        """
        now = self.clock.monotonic()
        self._paused_until = max(self._paused_until, now + retry_after)
        new_episode = self._sent_at() > self._episode_began
        if new_episode:
            self.episodes += 1
            self._episode_began = now
        sent = self._sent_after()
        if not self.adaptive or sent is None:
            return new_episode  # sent before the last event: the same burst, nothing new
        self.events += 1
        self._learned_at = self.clock.time()
        if self.rate is None:
            # Unpaced until now: what came back while this request was on its way is what
            # the gateway had saved up (its burst), and the slow start begins at what came
            # back in the last second.
            self.burst = max(1.0, float(sum(1 for t in self._successes if t >= sent)))
            self._start_rate = max(
                MIN_RATE, sum(1 for t in self._successes if t >= now - _RECENT) / _RECENT
            )
            self.rate = self._start_rate
            self._doubling = max(_DOUBLING, now - sent)  # the throttled request's round trip
        else:
            # The limit is below the rate that drew this 429 (the one in force when its
            # request was sent: the rate may have grown several times since, on a long round
            # trip), and at least what the window since the last pause shows. A short window
            # shows little, and a jittery gateway throttles a little under its limit: never
            # drop more than one step (half, after the slow start's doubling).
            drew = self._grown(max(0.0, sent - self._since))
            estimate = self._estimate(now) or 0.0
            step = 0.5 if self.ceiling is None else _BETA
            self.ceiling = max(MIN_RATE, min(drew, max(estimate, step * drew)))
            self.rate = max(MIN_RATE, _BETA * self.ceiling)
        self._since = self._paused_until
        self._successes.clear()
        return new_episode

    def restore(self, learned: LearnedLimits) -> None:
        """Start from what an earlier run learned, as if a 429 event had just come.

        The rate starts at a share of the remembered limit, under it, so the run's first
        requests draw few 429s; it climbs back along the cubic curve and probes beyond, as
        after any event, in case the limit was raised. The curve starts with the first
        request, not now: the run may wait a while before it sends anything.
        """
        if not self.adaptive or learned.ceiling is None or learned.burst is None:
            return  # a fixed rate learns nothing; a record of the window alone has no limit
        self.ceiling = max(MIN_RATE, learned.ceiling)
        self.burst = max(1.0, learned.burst)
        self.rate = self._grown(0.0)
        self._learned_at = learned.learned_at
        self._since = math.inf

    def learned(self) -> LearnedLimits | None:
        """What this pacer knows of the limit, for the next run (None: no limit estimated)."""
        learned_at = self._learned_at
        if self.ceiling is None or self.burst is None or self.rate is None or learned_at is None:
            return None
        return LearnedLimits(
            ceiling=self.ceiling, burst=self.burst, rate=self.rate, learned_at=learned_at
        )

    def succeeded(self) -> None:
        """A request went through: count it, and grow the rate while no 429 comes."""
        now = self.clock.monotonic()
        if not self.adaptive or self._sent_after() is None or now < self._since:
            return
        self._successes.append(now)
        if self.rate is not None:
            self.rate = self._grown(now - self._since)

    def _estimate(self, now: float) -> float | None:
        """The limit, from the successes since the last pause and the estimated burst.

        A token bucket lets through at most its burst plus ``limit`` per second in any
        window: over every window that ends now, ``(successes - burst) / length`` is at
        most the limit. The largest such figure is the estimate (None: no window shows one).
        """
        burst = self.burst or 1.0
        best = None
        for count, at in enumerate(reversed(self._successes), start=1):
            if count > burst and now > at:
                figure = (count - burst) / (now - at)
                if best is None or figure > best:
                    best = figure
        return best

    def _grown(self, elapsed: float) -> float:
        """The rate ``elapsed`` seconds after the last pause: slow start, then cubic."""
        if self.ceiling is None:
            rate = self._start_rate * math.pow(2.0, min(elapsed / self._doubling, _MAX_DOUBLINGS))
        else:
            scale = (1.0 - _BETA) / _PLATEAU**3
            rate = self.ceiling * (1.0 + scale * (elapsed - _PLATEAU) ** 3)
        if self.cap is not None:
            # Past the cap nothing is learned: keep the curve where a 429 could still come.
            rate = min(rate, self.cap)
        return max(MIN_RATE, rate)

    def _start(self, now: float) -> float:
        """When the next request may go."""
        rate = self.effective_rate
        if rate is None:
            return max(now, self._paused_until)
        return max(self._paused_until, self._last_sent + 1.0 / rate)

    def _go(self, now: float) -> None:
        """A request goes now."""
        if self._since == math.inf:
            self._since = now  # restored: the curve starts with the first request
        rate = self.effective_rate
        if rate is not None:
            # Keep to the grid despite a late wake-up (the loop's timers run late by a
            # millisecond or so), but never bank time while nobody was waiting.
            start = self._start(now)
            self._last_sent = start if now - start <= 0.5 / rate else now
        # The answer to this request teaches only about the time after the last event.
        _SENT.set((id(self), self.events, now))

    def _sent_at(self) -> float:
        """When the current task's request went (now, if this pacer did not send it)."""
        pacer, _, at = _SENT.get((id(self), self.events, self.clock.monotonic()))
        return at if pacer == id(self) else self.clock.monotonic()

    def _sent_after(self) -> float | None:
        """When the current task's request went, if after the last event (None: before)."""
        pacer, events, at = _SENT.get((id(self), self.events, self.clock.monotonic()))
        if pacer != id(self):
            return self.clock.monotonic()
        return at if events == self.events else None
