"""The concurrency window: how many requests may be in flight, learned from round trips.

The service never says how much it can serve at once. A fixed concurrency is either too
low for a fast service or too high for a small one (requests then wait in its queue, which
adds latency without adding throughput). The window learns it, as TCP Vegas and Netflix's
concurrency-limits (Gradient2) do, from the one signal every answer carries: its round trip.

* Each operation (a bulk change, a list page, a GET) has its own unloaded round trip, the
  shortest seen: a 100,000-item list page is slow for a reason that is not queueing.
* An answer is *queued* when its round trip exceeds both ``_TOLERANCE`` times that minimum
  and that minimum plus ``_SLACK``: the tolerance keeps jitter from reading as a queue, the
  slack does so for a loopback service's round trips of a millisecond, which vary by more
  than their own size.
* **Slow start**: from ``initial`` (16, or the cap if lower) the window grows by one for
  every answer that was not queued and was sent while the window was at least half used,
  so it doubles every round trip while the service keeps up. A short run reaches the cap
  in a few round trips; the first queued answer ends the slow start.
* **Then**, once per round trip (a round ends when a request sent after it began is
  answered), the round's answers decide: queued on average, the window shrinks to what
  the round trips say fits (``size * allowed / measured``, Little's law: at the same
  throughput, the queue goes); otherwise, after ``_quiet`` calm rounds, it grows by one.
  Each shrink doubles the calm rounds before the next probe (up to ``_MAX_QUIET``): every
  probe beyond the service's capacity makes a few requests wait, so probes grow rare.
* **A 429** halves the window (the pacer, :mod:`aicore_bulk._rate`, pauses and paces every
  request; the window keeps fewer of them waiting at the gateway meanwhile).
* Answers to requests sent before the window last shrank are the old window's queue and
  teach nothing new (as the pacer ignores the 429s of requests sent before a pause).

The window never exceeds the user's cap (``Limits.concurrency``) and never drops below 1.
With ``adaptive=False`` it stays at the cap, as the concurrency was before it existed.
"""

from __future__ import annotations

import math
from typing import Final

import attrs

from aicore_bulk._clock import Clock

#: The window a run starts at (the cap, if lower), unless told a remembered one.
INITIAL: Final = 16
#: An answer is queued above this many times its operation's shortest round trip and
_TOLERANCE: Final = 1.15
#: these seconds more than it. A round trip of a millisecond on loopback varies
#: by more than its own size (the client's and the server's CPU, a busy machine): waits
#: this short are noise, and shrinking for them would starve a 0 ms service that keeps up.
_SLACK: Final = 0.02
#: Calm rounds before the first probe after a shrink; each shrink doubles it, up to this.
_MAX_QUIET: Final = 16


@attrs.frozen
class Ticket:
    """One request sent through the window: what its answer is compared with."""

    operation: str
    #: When it went (the window's clock).
    at: float
    #: Requests in flight when it went, itself included.
    in_flight: int


@attrs.define(eq=False)
class Window:
    """How many requests may be in flight now; grows while round trips stay flat.

    Args:
        clock: Where round trips are timed.
        cap: The most requests in flight ever (``Limits.concurrency``).
        initial: The window to start at (a remembered one); None: 16, or the cap if lower.
        adaptive: False: the window stays at the cap.

    """

    clock: Clock
    cap: int
    initial: int | None = None
    adaptive: bool = True
    #: Requests in flight now.
    in_flight: int = attrs.field(default=0, init=False)
    #: The largest window of the run.
    peak: int = attrs.field(default=0, init=False)
    #: Times the window shrank (queued rounds and 429s).
    shrinks: int = attrs.field(default=0, init=False)
    _limit: float = attrs.field(default=0.0, init=False)
    _slow_start: bool = attrs.field(default=True, init=False)
    #: The shortest round trip of each operation.
    _base: dict[str, float] = attrs.field(factory=dict, init=False)
    #: When the window last shrank: answers to requests sent before then are ignored.
    _cut_at: float = attrs.field(default=float("-inf"), init=False)
    _round_start: float = attrs.field(init=False)
    _round_rtt: float = attrs.field(default=0.0, init=False)
    _round_allowed: float = attrs.field(default=0.0, init=False)
    _round_used: bool = attrs.field(default=False, init=False)
    _quiet: int = attrs.field(default=1, init=False)
    _calm: int = attrs.field(default=0, init=False)
    #: When the window was last full: an answer to a request sent before then tested it.
    _full_at: float = attrs.field(default=float("-inf"), init=False)

    def __attrs_post_init__(self) -> None:
        start = self.cap
        if self.adaptive:
            start = min(self.cap, INITIAL if self.initial is None else max(1, self.initial))
        self._limit = float(start)
        self.peak = start
        self._round_start = self.clock.monotonic()

    @property
    def size(self) -> int:
        """Requests that may be in flight now: between 1 and the cap."""
        return max(1, min(self.cap, math.floor(self._limit)))

    def sent(self, operation: str) -> Ticket:
        """A request of ``operation`` goes now; give its ticket to :meth:`answered`."""
        self.in_flight += 1
        now = self.clock.monotonic()
        if self.in_flight >= self.size:
            self._full_at = now
        return Ticket(operation, now, self.in_flight)

    def lost(self, ticket: Ticket) -> None:  # noqa: ARG002 - the pair of sent()
        """The request got no answer (a dropped connection): it says nothing of queues."""
        self.in_flight -= 1

    def answered(self, ticket: Ticket, *, throttled: bool = False) -> None:
        """The request was answered: learn from its round trip (or from its 429)."""
        self.in_flight -= 1
        if not self.adaptive:
            return
        now = self.clock.monotonic()
        rtt = now - ticket.at
        if throttled:
            if ticket.at >= self._cut_at:
                self._shrink(self.size / 2, now)
            return
        base = self._base.get(ticket.operation)
        if base is None or rtt < base:
            self._base[ticket.operation] = base = rtt
        if ticket.at < self._cut_at:
            return  # queued behind the old, larger window
        allowed = max(_TOLERANCE * base, base + _SLACK)
        # Growing a window that was never full would grow it untested (as a TCP window
        # limited by its application must not grow: RFC 7661).
        used = self._full_at >= ticket.at
        if self._slow_start:
            if rtt > allowed:
                self._shrink(self.size * allowed / rtt, now)
            elif used:
                self._grow(1.0)
            return
        self._round_rtt += rtt
        self._round_allowed += allowed
        self._round_used |= used
        if ticket.at >= self._round_start:
            self._end_round(now)

    def _end_round(self, now: float) -> None:
        """A round trip has passed since the round began: its answers decide."""
        if self._round_rtt > self._round_allowed:
            self._shrink(self.size * self._round_allowed / self._round_rtt, now)
        elif self._round_used:
            self._calm += 1
            if self._calm >= self._quiet:
                self._calm = 0
                self._grow(1.0)
        self._new_round(now)

    def _grow(self, by: float) -> None:
        self._limit = min(float(self.cap), self._limit + by)
        self.peak = max(self.peak, self.size)

    def _shrink(self, to: float, now: float) -> None:
        """Shrink to ``to`` (at least by one, at most to half) and start a new round."""
        size = self.size
        self._limit = float(max(1, min(size - 1, max(math.floor(to), size // 2))))
        self.shrinks += 1
        if not self._slow_start:
            self._quiet = min(_MAX_QUIET, 2 * self._quiet)
        self._slow_start = False
        self._calm = 0
        self._cut_at = now
        self._new_round(now)

    def _new_round(self, now: float) -> None:
        self._round_start = now
        self._round_rtt = self._round_allowed = 0.0
        self._round_used = False
