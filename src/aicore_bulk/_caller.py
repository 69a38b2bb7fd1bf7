"""Sending one logical request: token, pacing, concurrency, timeout and retries.

Everything the engine sends goes through :meth:`Caller.call`, which returns the final answer
or says why there is none. Per-item meaning is left to the caller of ``call``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
import attrs

from aicore_bulk._auth import Auth
from aicore_bulk._events import Listener, RequestAnswered, RequestSent
from aicore_bulk._rate import Pacer
from aicore_bulk._retry import (
    RETRYABLE_STATUSES,
    RetryBudget,
    RetryPolicy,
    backoff_waits,
    retry_after,
)
from aicore_bulk._transport import Request, Response, Transport, TransportError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_UNAUTHORIZED = 401
_THROTTLED = 429
#: A request may be throttled this many times its attempts before it gives up.
_THROTTLE_FACTOR = 4


@attrs.frozen
class Failure:
    """Why a request has no usable answer after every try.

    Attributes:
        maybe_applied: Whether any try may have reached the server and acted.
        status: The last HTTP status, if the last try got one.
        message: What went wrong, for the report.

    """

    maybe_applied: bool
    status: int | None
    message: str


@attrs.frozen
class Reply:
    """The final answer to a request.

    Attributes:
        response: The answer.
        unsure: An earlier try of this same request may have acted before this answer came
            (its connection dropped, or a gateway answered 5xx): a "not found" or "cannot be
            changed" now may be the effect of our own earlier try.

    """

    response: Response
    unsure: bool


@attrs.define(eq=False)
class Counters:
    """What the run has sent so far."""

    requests: int = 0
    mutating: int = 0
    retries: int = 0
    throttled: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


@attrs.define(eq=False)
class Caller:
    """Sends requests for the engine; shared by every task of one run."""

    transport: Transport
    auth: Auth
    pacer: Pacer
    limiter: anyio.CapacityLimiter
    retry: RetryPolicy
    budget: RetryBudget
    clock: Clock
    sleep: Sleep
    #: Seconds since the epoch, for ``Retry-After`` given as an HTTP date.
    wall_clock: Clock = time.time
    listener: Listener | None = None
    counters: Counters = attrs.field(factory=Counters)
    #: Set by an interruption: requests not yet on the wire are never sent.
    halted: bool = False

    async def call(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        items: int = 0,
    ) -> Reply | Failure:
        """Send until a final answer (any non-retryable status) or until tries run out."""
        waits = backoff_waits(self.retry)
        maybe_applied = False
        refreshed = False
        failures = throttles = 0
        while True:
            token = await self.auth.token(self.transport)
            request = Request(
                method,
                url,
                headers={**headers, "Authorization": f"Bearer {token}"},
                params=params or {},
                body=body,
                timeout=self.retry.timeout,
            )
            attempt = failures + throttles + 1
            outcome = await self._send_once(
                request, operation=operation, items=items, attempt=attempt
            )
            if isinstance(outcome, Response):
                if outcome.status == _UNAUTHORIZED and not refreshed:
                    # The token may have expired early or been revoked: one fresh try.
                    self.auth.invalidate(token)
                    refreshed = True
                    continue
                if outcome.status not in RETRYABLE_STATUSES:
                    self.pacer.succeeded()
                    return Reply(outcome, unsure=maybe_applied)
                failure = Failure(
                    # A gateway's 5xx may come after the service acted; a 429 never does.
                    maybe_applied or outcome.status != _THROTTLED,
                    outcome.status,
                    f"HTTP {outcome.status} after {attempt} tries",
                )
                maybe_applied = failure.maybe_applied
                if outcome.status == _THROTTLED:
                    # Throttling is the server pacing us, not failing: it has its own, larger
                    # allowance and does not draw on the run's retry budget.
                    throttles += 1
                    if throttles >= self.retry.attempts * _THROTTLE_FACTOR:
                        return failure
                    self._pause_for(outcome, next(waits))
                    self.counters.retries += 1
                    continue
                wait = _asked_or(outcome, next(waits), self.wall_clock, self.retry.wait_max)
            else:
                maybe_applied |= outcome.maybe_applied
                wait = next(waits)
                failure = Failure(maybe_applied, None, f"{outcome} (after {attempt} tries)")
            failures += 1
            if self.halted or failures >= self.retry.attempts or not self.budget.take():
                return failure
            self.counters.retries += 1
            await self.sleep(wait)

    async def _send_once(
        self, request: Request, *, operation: str, items: int, attempt: int
    ) -> Response | TransportError:
        async with self.limiter:
            await self.pacer.wait_turn()
            if self.halted:
                return TransportError("connect", "not sent: the run was interrupted")
            counters = self.counters
            counters.requests += 1
            if items:
                counters.mutating += 1
            counters.in_flight += 1
            counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
            self._emit(RequestSent(operation, items, attempt))
            started = time.perf_counter()
            try:
                response = await self.transport.send(request)
            except TransportError as error:
                self._emit(RequestAnswered(operation, items, None, time.perf_counter() - started))
                return error
            finally:
                counters.in_flight -= 1
        self._emit(
            RequestAnswered(operation, items, response.status, time.perf_counter() - started)
        )
        return response

    def _pause_for(self, response: Response, backoff_wait: float) -> None:
        self.counters.throttled += 1
        asked = retry_after(response.headers, now=self.wall_clock)
        # The server is throttling this client: every request holds, not just this one.
        self.pacer.throttled(min(asked, self.retry.wait_max) if asked is not None else backoff_wait)

    def _emit(self, event: RequestSent | RequestAnswered) -> None:
        if self.listener is not None:
            self.listener(event)


def _asked_or(response: Response, backoff_wait: float, now: Clock, cap: float) -> float:
    """The server's ``Retry-After`` (capped), or our backoff when it gave none."""
    asked = retry_after(response.headers, now=now)
    return backoff_wait if asked is None else min(asked, cap)
