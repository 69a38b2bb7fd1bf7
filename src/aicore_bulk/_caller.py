"""Sending one logical request: token, pacing, concurrency, timeout and retries.

Every request of a run goes through :meth:`Caller.call`, which returns the final answer
or says why there is none. Per-item meaning is left to the wire format (``_api``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping

import anyio
import attrs

from aicore_bulk._auth import Auth
from aicore_bulk._clock import Clock
from aicore_bulk._events import Listener, RequestAnswered, RequestSent
from aicore_bulk._logging import get_logger, log, plural
from aicore_bulk._rate import Pacer
from aicore_bulk._retry import (
    CONNECT_WAIT,
    RETRYABLE_STATUSES,
    RetryBudget,
    RetryPolicy,
    backoff_waits,
    retry_after,
)
from aicore_bulk._transport import Request, Response, Transport, TransportError
from aicore_bulk._window import Window

_UNAUTHORIZED = 401
_THROTTLED = 429
#: Why a change was not sent: its last look found nothing left to send.
NOTHING_LEFT = "nothing left to send"
#: Why a request was not sent: the run was interrupted while it waited for its turn.
NOT_SENT = "not sent: the run was interrupted"
#: A request may be throttled this many times its attempts before it gives up.
_THROTTLE_FACTOR = 4

_log = get_logger("request")
#: How many items a change request stops and how many it deletes, asked only when logged.
Changes = Callable[[], tuple[int, int]]


@attrs.frozen
class Failure:
    """Why a request has no usable answer after every try.

    Attributes:
        maybe_applied: Whether any try may have reached the server and acted.
        status: The last HTTP status, if the last try got one.
        message: What went wrong, for the report.
        unreachable: No try ever got a connection to the server (the name does not
            resolve, the port refuses): most likely a wrong URL, not a bad moment.
        sent: False when the request never went out at all (the run was interrupted while
            it waited for its turn): it carried nothing.

    """

    maybe_applied: bool
    status: int | None
    message: str
    unreachable: bool = False
    sent: bool = True


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
    """Sends the requests of one run; shared by every task of it."""

    transport: Transport
    auth: Auth
    pacer: Pacer
    limiter: anyio.CapacityLimiter
    retry: RetryPolicy
    budget: RetryBudget
    clock: Clock
    #: How many requests may be in flight now; the limiter's tokens follow it.
    window: Window
    listener: Listener | None = None
    counters: Counters = attrs.field(factory=Counters)
    #: Set by :meth:`halt`: requests not yet on the wire are never sent.
    halted: bool = attrs.field(default=False, init=False)
    #: The service has answered at least once: from then on a failed connection is a bad
    #: moment (retried with the full backoff), not a wrong address.
    answered: bool = attrs.field(default=False, init=False)
    #: The waits of the requests not yet given their turn (see :meth:`halt`).
    _waiting: set[anyio.CancelScope] = attrs.field(factory=set, init=False)

    def halt(self) -> None:
        """Send nothing more (an interruption); requests on the wire still get their answer.

        Requests still waiting for their turn stop waiting at once: they never left, so
        their items are reported as not sent, not left in doubt by the grace period's end.
        """
        self.halted = True
        for waiting in self._waiting:
            waiting.cancel()

    @contextlib.contextmanager
    def _unless_halted(self) -> Iterator[None]:
        """Wait for a turn, unless the run is (or gets) halted: then stop waiting at once."""
        scope = anyio.CancelScope()
        if self.halted:
            scope.cancel()
        self._waiting.add(scope)
        try:
            with scope:
                yield
        finally:
            self._waiting.discard(scope)

    async def call(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        last_look: Callable[[], bytes | None] | None = None,
        items: int = 0,
        resend_unsure: bool = True,
        changes: Changes | None = None,
    ) -> Reply | Failure:
        """Send until a final answer (any non-retryable status) or until tries run out.

        ``last_look``, when given, builds the body at the very last moment, once the request
        has its turn: a change can wait seconds in the queue, and what it should carry may have
        changed meanwhile. It returns None when nothing is left to send.

        With ``resend_unsure=False`` (changes), nothing is sent a second time from here: every
        failure comes back at once (after the pause a 429 calls for), so that the engine
        re-checks each item against what it has learned meanwhile, or reads it again when
        the try may have acted (a 5xx, a dropped connection, a timeout).

        ``changes`` says how many items the request stops and deletes (for its log record;
        it is asked once the body is built, and only when DEBUG records are wanted).
        """
        waits = backoff_waits(self.retry)
        maybe_applied = connected = False
        refreshed = False
        failures = throttles = 0
        while True:
            attempt = failures + throttles + 1
            outcome, token = await self._send_once(
                last_look,
                Request(
                    method,
                    url,
                    headers=headers,
                    params=params or {},
                    body=body,
                    timeout=self.retry.request_timeout,
                ),
                operation=operation,
                items=items,
                attempt=attempt,
                changes=changes,
            )
            if outcome is None:
                # Interrupted before this try went out: it carried nothing.
                sent = attempt > 1
                return Failure(maybe_applied, None, NOT_SENT, unreachable=False, sent=sent)
            connected |= not (isinstance(outcome, TransportError) and outcome.kind == "connect")
            if isinstance(outcome, Response) and outcome.status == _UNAUTHORIZED and not refreshed:
                # The token may have expired early or been revoked: one fresh try.
                log(_log, logging.INFO, "the service refused our token (401): fetching another")
                self.auth.invalidate(token)
                refreshed = True
                if not resend_unsure:
                    return Failure(
                        maybe_applied=False,
                        status=_UNAUTHORIZED,
                        message="HTTP 401: the service refused our token",
                    )
                continue
            if isinstance(outcome, Response) and outcome.status not in RETRYABLE_STATUSES:
                self.pacer.succeeded()
                return Reply(outcome, unsure=maybe_applied)
            failure = _failure(outcome, attempt=attempt, before=maybe_applied, connected=connected)
            maybe_applied = failure.maybe_applied
            throttled = failure.status == _THROTTLED
            if throttled:
                # Throttling is the server pacing us, not failing: it has its own, larger
                # allowance and does not draw on the run's retry budget.
                throttles += 1
                self._pause_for(outcome, next(waits))
            if not resend_unsure:
                # A change goes back to the engine, which re-checks it against what it has
                # learned meanwhile (or reads it again, if it may have acted).
                return failure
            if throttled and throttles < self.retry.attempts * _THROTTLE_FACTOR:
                self.counters.retries += 1
                continue
            failures += 1
            if throttled or self._give_up(failures):
                return failure
            self.counters.retries += 1
            await self.clock.sleep(self._wait(outcome, next(waits)))

    def _give_up(self, failures: int) -> bool:
        """Interrupted, out of tries, or out of the run's retry budget."""
        return self.halted or failures >= self.retry.attempts or not self.budget.take()

    def _wait(self, outcome: Response | TransportError, backoff_wait: float) -> float:
        """The server's ``Retry-After`` (capped), or our backoff when it gave none.

        A connection that fails before the service ever answered is tried again soon: see
        :data:`~aicore_bulk._retry.CONNECT_WAIT`.
        """
        if isinstance(outcome, Response):
            asked = retry_after(outcome.headers, now=self.clock.time)
            if asked is not None:
                return min(asked, self.retry.wait_max)
        elif outcome.kind == "connect" and not self.answered:
            return min(backoff_wait, CONNECT_WAIT)
        return backoff_wait

    async def _send_once(
        self,
        last_look: Callable[[], bytes | None] | None,
        request: Request,
        *,
        operation: str,
        items: int,
        attempt: int,
        changes: Changes | None = None,
    ) -> tuple[Response | TransportError | None, str]:
        """Send once, when the limiter and the pacer let it go, with a token fetched just then.

        The token is taken at the last moment: a request can wait a long time for its turn
        (a 429 pause, a slow queue), longer than a short-lived token lives.
        None: the run was interrupted while the request waited for its turn (it never left).
        """
        async with contextlib.AsyncExitStack() as turn:
            with self._unless_halted():
                await turn.enter_async_context(self.limiter)
                await self.pacer.wait_turn()
            if self.halted:
                return None, ""
            if last_look is not None:
                body = last_look()
                if body is None:
                    return TransportError("connect", NOTHING_LEFT), ""
                request = attrs.evolve(request, body=body)
            token = await self.auth.token(self.transport)
            request = attrs.evolve(
                request, headers={**request.headers, "Authorization": f"Bearer {token}"}
            )
            counters = self.counters
            counters.requests += 1
            if items:
                counters.mutating += 1
            counters.in_flight += 1
            counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
            self._emit(RequestSent(operation, items, attempt))
            window = self.window
            ticket = window.sent(operation)
            started = self.clock.monotonic()
            got_answer = False
            try:
                response = await self.transport.send(request)
                got_answer = True
            except TransportError as error:
                seconds = self.clock.monotonic() - started
                self._emit(RequestAnswered(operation, items, None, seconds))
                _log_request(request.method, operation, attempt, changes, error, seconds)
                return error, token
            finally:
                counters.in_flight -= 1
                if not got_answer:
                    window.lost(ticket)
            window.answered(ticket, throttled=response.status == _THROTTLED)
            if window.size != self.limiter.total_tokens:
                # Shrinking only holds back new requests; those in flight finish.
                self.limiter.total_tokens = window.size
        self.answered = True
        seconds = self.clock.monotonic() - started
        self._emit(RequestAnswered(operation, items, response.status, seconds))
        _log_request(request.method, operation, attempt, changes, response, seconds)
        return response, token

    def _pause_for(self, response: Response | TransportError, backoff_wait: float) -> None:
        self.counters.throttled += 1
        headers = response.headers if isinstance(response, Response) else {}
        asked = retry_after(headers, now=self.clock.time)
        # The server is throttling this client: every request holds, not just this one.
        pause = min(asked, self.retry.wait_max) if asked is not None else backoff_wait
        if self.pacer.throttled(pause):
            rate = self.pacer.effective_rate
            log(
                _log,
                logging.WARNING,
                "throttled (HTTP 429): every request waits %.1f s%s",
                pause,
                f", then at most {rate:.1f} requests/s" if rate is not None else "",
                status=_THROTTLED,
                pause=round(pause, 3),
                rate=round(rate, 3) if rate is not None else None,
                episode=self.pacer.episodes,
            )

    def _emit(self, event: RequestSent | RequestAnswered) -> None:
        if self.listener is not None:
            self.listener(event)


def _log_request(
    method: str,
    operation: str,
    attempt: int,
    changes: Changes | None,
    outcome: Response | TransportError,
    seconds: float,
) -> None:
    """One DEBUG record per request: what it did, and what came of it (never a header)."""
    if not _log.isEnabledFor(logging.DEBUG):
        return
    stops, deletes = changes() if changes is not None else (0, 0)
    what = ", ".join(plural(n, noun) for n, noun in ((stops, "stop"), (deletes, "delete")) if n)
    status = outcome.status if isinstance(outcome, Response) else None
    log(
        _log,
        logging.DEBUG,
        "%s %s%s%s -> %s in %.3f s",
        method,
        operation,
        f": {what}" if what else "",
        f" (try {attempt})" if attempt > 1 else "",
        status if status is not None else f"no answer ({outcome})",
        seconds,
        method=method,
        operation=operation,
        items=stops + deletes,
        stops=stops,
        deletes=deletes,
        status=status,
        seconds=round(seconds, 3),
        attempt=attempt,
    )


def _failure(
    outcome: Response | TransportError, *, attempt: int, before: bool, connected: bool
) -> Failure:
    """A try without a usable answer.

    ``before``: an earlier try may already have acted; ``connected``: some try got a
    connection.
    """
    if isinstance(outcome, Response):
        # A gateway's 5xx may come after the service acted; a 429 never does.
        maybe = before or outcome.status != _THROTTLED
        return Failure(maybe, outcome.status, f"HTTP {outcome.status} after {_tries(attempt)}")
    return Failure(
        before or outcome.maybe_applied,
        None,
        f"{outcome} (after {_tries(attempt)})",
        unreachable=not connected,
    )


def _tries(attempt: int) -> str:
    return "1 try" if attempt == 1 else f"{attempt} tries"
