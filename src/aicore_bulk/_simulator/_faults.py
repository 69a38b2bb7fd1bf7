"""Fault knobs, and the seeded decisions drawn from them for each request."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Literal

import attrs
from attrs import validators as v

_rate = [v.ge(0.0), v.le(1.0)]
#: Dropped connections split evenly between before and after the change is applied.
_DROP_BEFORE_SHARE = 0.5
_non_negative = v.ge(0.0)


@attrs.frozen(kw_only=True)
class Faults:
    """What the simulator does wrong on purpose, each knob a rate or a schedule.

    Rates are probabilities per API request (``/v2/...``), drawn from the simulator's seeded
    random generator in the order requests arrive. The token endpoint is never faulted here.
    """

    #: Seconds added to every API request, plus up to ``latency_jitter`` more at random.
    latency: float = attrs.field(default=0.0, validator=_non_negative)
    latency_jitter: float = attrs.field(default=0.0, validator=_non_negative)
    #: Requests per second the gateway lets through (a token bucket of ``rate_burst``);
    #: beyond it, 429 with ``Retry-After``.
    rate_limit: float | None = attrs.field(default=None, validator=v.optional(v.gt(0.0)))
    rate_burst: int = attrs.field(default=10, validator=v.ge(1))
    #: How ``Retry-After`` is written: delta-seconds or an HTTP date.
    retry_after: Literal["seconds", "http-date"] = attrs.field(
        default="seconds", validator=v.in_(("seconds", "http-date"))
    )
    #: Windows in which every API request gets 429: ``throttle_burst_length`` seconds out of
    #: every ``throttle_burst_every``, counted from the simulator's start.
    throttle_burst_every: float | None = attrs.field(default=None, validator=v.optional(v.gt(0.0)))
    throttle_burst_length: float = attrs.field(default=0.0, validator=_non_negative)
    #: 500, 502, 503 or 504 (chosen at random) without ``Retry-After``.
    server_errors: float = attrs.field(default=0.0, validator=_rate)
    #: 503 with ``Retry-After: unavailable_retry_after``.
    unavailable: float = attrs.field(default=0.0, validator=_rate)
    unavailable_retry_after: float = attrs.field(default=1.0, validator=_non_negative)
    #: The connection is closed without an answer; half of the time after the change was
    #: applied, so the client cannot know whether it happened.
    dropped_connections: float = attrs.field(default=0.0, validator=_rate)
    #: A 202 of a stop, delete or bulk change whose JSON is cut short (the change applied).
    truncated_bodies: float = attrs.field(default=0.0, validator=_rate)
    #: A 202 whose body is not JSON at all (the change applied).
    malformed_bodies: float = attrs.field(default=0.0, validator=_rate)


Verdict = Literal["pass", "drop-before", "drop-after"]


@attrs.frozen
class Refuse:
    """Answer this request with an error status instead of handling it."""

    status: int
    retry_after: float | None


@attrs.define(eq=False)
class FaultPlan:
    """Draws each request's fate from the knobs, deterministically for a seed."""

    faults: Faults
    clock: Callable[[], float]
    rng: random.Random
    started_at: float
    _tokens: float = attrs.field(init=False)
    _refilled_at: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.faults.rate_burst)
        self._refilled_at = self.started_at

    def delay(self) -> float:
        """Seconds to hold this request before answering."""
        extra = (
            self.rng.uniform(0.0, self.faults.latency_jitter) if self.faults.latency_jitter else 0.0
        )
        return self.faults.latency + extra

    def refusal(self) -> tuple[Refuse | None, str | None]:
        """An error to answer with instead of handling the request, and the fault's name."""
        f = self.faults
        now = self.clock()
        if f.throttle_burst_every is not None and f.throttle_burst_length > 0:
            into = (now - self.started_at) % f.throttle_burst_every
            if into < f.throttle_burst_length:
                return Refuse(429, f.throttle_burst_length - into), "throttle-burst"
        if f.rate_limit is not None:
            self._refill(now, f.rate_limit)
            if self._tokens < 1.0:
                return Refuse(429, (1.0 - self._tokens) / f.rate_limit), "rate-limit"
            self._tokens -= 1.0
        if f.unavailable and self.rng.random() < f.unavailable:
            return Refuse(503, f.unavailable_retry_after), "unavailable"
        if f.server_errors and self.rng.random() < f.server_errors:
            return Refuse(self.rng.choice((500, 502, 503, 504)), None), "server-error"
        return None, None

    def connection(self) -> Verdict:
        """Whether to drop the connection, and whether before or after applying the change."""
        if self.faults.dropped_connections and self.rng.random() < self.faults.dropped_connections:
            return "drop-before" if self.rng.random() < _DROP_BEFORE_SHARE else "drop-after"
        return "pass"

    def body_fault(self) -> Literal["truncated", "malformed"] | None:
        """Whether to spoil the body of a successful change's 202."""
        if self.faults.truncated_bodies and self.rng.random() < self.faults.truncated_bodies:
            return "truncated"
        if self.faults.malformed_bodies and self.rng.random() < self.faults.malformed_bodies:
            return "malformed"
        return None

    def _refill(self, now: float, rate: float) -> None:
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(float(self.faults.rate_burst), self._tokens + elapsed * rate)
        self._refilled_at = now


def retry_after_seconds(seconds: float) -> int:
    """``Retry-After`` delta-seconds are whole numbers (RFC 9110): round up, at least 1."""
    return max(1, math.ceil(seconds))
