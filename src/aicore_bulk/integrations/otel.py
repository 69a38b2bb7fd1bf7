"""OpenTelemetry for aicore-bulk: a span per run, a child span per phase, and metrics.

Install ``aicore-bulk[otel]``; spans and metrics go to the global providers unless you give
your own. Wrap a client, and call it as you would the client::

    from aicore_bulk.integrations.otel import instrument

    async with BulkClient.from_env() as client:
        report = await instrument(client).delete("executions", ids)

Each run is a span, with a child span per phase::

    aicore_bulk.delete          kind, target, resource group, counts per outcome, requests
    ├── aicore_bulk.resolve     the token, the bulk capability, every item's status
    └── aicore_bulk.dispatch    from the plan to the last settled item

The run span, then the phase span, is the *current* span while the run's requests are made:
that is why this is a wrapper around the call rather than a listener alone (a listener hears
of a run only once its first request is on its way, and it cannot make a span current for
the code that calls it). So the spans of an HTTP instrumentation (aiohttp's, see
``docs/observability.md``) nest under the phase that made each request.

Metrics (counters; ``kind`` on each):

* ``aicore_bulk.items``: items settled, by ``outcome`` (not counted for dry runs);
* ``aicore_bulk.requests``: requests sent, by ``operation`` (``bulk``, ``list``, ``stop``...),
  retries included, token fetches not;
* ``aicore_bulk.retries``: requests sent again after a retryable failure;
* ``aicore_bulk.throttled``: 429 answers.

They come from the run's events (:class:`~aicore_bulk.RequestSent`,
:class:`~aicore_bulk.RequestAnswered`, :class:`~aicore_bulk.ItemSettled`...), so a long run
is counted as it goes; the span's attributes come from the final report.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import Token
from typing import Final, Literal

import anyio

try:
    from opentelemetry import context, metrics, trace
except ImportError as error:  # pragma: no cover - the otel session has it, the others not
    raise ImportError(
        "aicore_bulk.integrations.otel needs the otel extra: pip install 'aicore-bulk[otel]'"
    ) from error

from aicore_bulk import (
    BulkClient,
    BulkError,
    Event,
    GroupSelection,
    ItemSettled,
    Kind,
    Listener,
    Outcome,
    PhaseDone,
    Plan,
    PlanReady,
    Report,
    RequestAnswered,
    RequestSent,
    Target,
    __version__,
    read_journal,
)

__all__ = ["InstrumentedClient", "RunTrace", "Telemetry", "instrument"]

#: The instrumentation scope of every span and metric.
SCOPE: Final = "aicore_bulk"
Operation = Literal["delete", "stop", "plan", "resume"]
#: What a run takes: IDs, or a selection across resource groups (``BulkClient.select``).
Ids = Iterable[str] | AsyncIterable[str] | GroupSelection
Confirm = Callable[[Plan], bool | Awaitable[bool]]
JournalPath = str | os.PathLike[str]

_THROTTLED: Final = 429


class Telemetry:
    """Where the spans and metrics of runs go: a tracer, a meter and their counters.

    Args:
        tracer_provider: Spans go here (default: the global tracer provider).
        meter_provider: Metrics go here (default: the global meter provider).

    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self.items = meter.create_counter(
            "aicore_bulk.items", unit="{item}", description="Items settled, by outcome."
        )
        self.requests = meter.create_counter(
            "aicore_bulk.requests",
            unit="{request}",
            description="Requests sent to the AI API, retries included.",
        )
        self.retries = meter.create_counter(
            "aicore_bulk.retries",
            unit="{request}",
            description="Requests sent again after a retryable failure.",
        )
        self.throttled = meter.create_counter(
            "aicore_bulk.throttled", unit="{response}", description="429 answers received."
        )

    @contextmanager
    def run(
        self,
        operation: Operation,
        *,
        resource_group: str,
        kind: Kind | None = None,
        target: Target | None = None,
    ) -> Iterator[RunTrace]:
        """Trace one run: its span is current inside; give the :class:`RunTrace` as listener.

        Call :meth:`RunTrace.record` with the report (or plan) before leaving. An exception
        that leaves the block is recorded on the run span and on the open phase span.
        """
        attributes: dict[str, str] = {
            "aicore_bulk.operation": operation,
            "aicore_bulk.resource_group": resource_group,
        }
        if kind is not None:
            attributes["aicore_bulk.kind"] = kind
        if target is not None:
            attributes["aicore_bulk.target"] = target.value
        with self.tracer.start_as_current_span(
            f"aicore_bulk.{operation}", attributes=attributes
        ) as span:
            run = RunTrace(self, span, operation, kind)
            try:
                yield run
            except BaseException as error:
                run.close(error)
                raise
            run.close(None)


class RunTrace:
    """One run's spans and counts: a :data:`~aicore_bulk.Listener` for that run's events.

    Made by :meth:`Telemetry.run`. The resolve phase starts with the run; the dispatch phase
    starts when the plan is ready (a dry run has none). A phase span is made current only
    when the event comes from the task that entered the run (the run's own, as it is today),
    so that it can be ended there again; otherwise requests nest under the run span.
    """

    def __init__(
        self, telemetry: Telemetry, span: trace.Span, operation: Operation, kind: Kind | None
    ) -> None:
        self._telemetry = telemetry
        self.span = span
        self._operation = operation
        self._kind = kind
        self._task = _current_task()
        #: Open phases, innermost last: the name, the span, the context token if attached.
        self._phases: list[tuple[str, trace.Span, Token[context.Context] | None]] = []
        self._phase_requests = 0
        self._start_phase("resolve")

    def __call__(self, event: Event) -> None:
        """Count the event, and start or end a phase."""
        telemetry = self._telemetry
        match event:
            case RequestSent(operation=operation, attempt=attempt):
                telemetry.requests.add(1, {**self._attributes(), "operation": operation})
                self._phase_requests += 1
                if attempt > 1:
                    telemetry.retries.add(1, {**self._attributes(), "operation": operation})
            case RequestAnswered(operation=operation, status=status) if status == _THROTTLED:
                telemetry.throttled.add(1, {**self._attributes(), "operation": operation})
            case ItemSettled(result=result) if self._operation != "plan":
                telemetry.items.add(1, {**self._attributes(), "outcome": result.outcome.value})
            case PhaseDone(phase=phase):
                self._end_phase(phase)
            case PlanReady():
                self._plan_ready(event)

    def record(self, result: Report | Plan) -> None:
        """Put what the run did (a report) or would do (a plan) on the run span."""
        span = self.span
        span.set_attributes(
            {"aicore_bulk.kind": result.kind, "aicore_bulk.target": result.target.value}
        )
        if isinstance(result, Plan):
            span.set_attributes(
                {
                    "aicore_bulk.items": len(result.items),
                    "aicore_bulk.requests": result.reads,
                    "aicore_bulk.duplicates": result.duplicates,
                }
            )
            return
        summary = result.summary
        span.set_attributes(
            {
                "aicore_bulk.items": summary.total,
                **{
                    f"aicore_bulk.outcome.{outcome.value}": summary.outcomes.get(outcome, 0)
                    for outcome in Outcome
                },
                "aicore_bulk.requests": summary.requests,
                "aicore_bulk.mutating_requests": summary.mutating_requests,
                "aicore_bulk.retries": summary.retries,
                "aicore_bulk.throttled": summary.throttled,
                "aicore_bulk.duplicates": summary.duplicates,
                "aicore_bulk.interrupted": summary.interrupted,
                "aicore_bulk.ok": result.ok,
            }
        )
        if not result.ok:
            bad = sum(n for outcome, n in summary.outcomes.items() if not outcome.ok)
            span.set_status(
                trace.StatusCode.ERROR,
                f"{bad} of {summary.total} items did not reach {result.target.value}",
            )

    def close(self, error: BaseException | None) -> None:
        """End the phases still open (innermost first), with ``error`` if the run raised it."""
        while self._phases:
            if error is not None:
                _, span, _ = self._phases[-1]
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR, type(error).__name__)
            self._end_phase(self._phases[-1][0])

    def _attributes(self) -> dict[str, str]:
        return {} if self._kind is None else {"kind": self._kind}

    def _plan_ready(self, event: PlanReady) -> None:
        self._kind = event.kind
        self.span.set_attributes(
            {
                "aicore_bulk.kind": event.kind,
                "aicore_bulk.target": event.target.value,
                "aicore_bulk.plan.requests": event.requests,
                **{f"aicore_bulk.plan.{path}": n for path, n in event.paths.items()},
            }
        )
        self._end_phase("resolve")  # a run with no items to read has no PhaseDone for it
        if self._operation != "plan":
            self._start_phase("dispatch")

    def _start_phase(self, name: str) -> None:
        span = self._telemetry.tracer.start_span(
            f"aicore_bulk.{name}", context=trace.set_span_in_context(self.span)
        )
        token = None
        if self._owned():
            token = context.attach(trace.set_span_in_context(span))
        self._phases.append((name, span, token))
        self._phase_requests = 0

    def _end_phase(self, name: str) -> None:
        if not self._phases or self._phases[-1][0] != name:
            return
        _, span, token = self._phases.pop()
        span.set_attribute("aicore_bulk.requests", self._phase_requests)
        span.end()
        if token is not None and self._owned():
            context.detach(token)

    def _owned(self) -> bool:
        """Whether this is the task that entered the run: only there is a context our own.

        Synchronous code (``delete_sync``) runs the run in a task of a loop of its own, in a
        copy of the caller's context: a phase made current on one side could not be ended on
        the other, so there the phases are not made current and requests nest under the run.
        """
        return self._task is not None and _current_task() is self._task


class InstrumentedClient:
    """A :class:`~aicore_bulk.BulkClient` whose runs are traced and counted.

    Its methods take the client's arguments and return what the client's return; each call
    runs inside :meth:`Telemetry.run`. Make one with :func:`instrument`.
    """

    def __init__(self, client: BulkClient, telemetry: Telemetry) -> None:
        self.client = client
        self.telemetry = telemetry

    def __repr__(self) -> str:
        return f"<InstrumentedClient {self.client!r}>"

    async def delete(
        self,
        kind: Kind,
        ids: Ids,
        *,
        deadline: float | None = None,
        confirm: Confirm | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        journal: JournalPath | None = None,
        labels: Mapping[str, str] | None = None,
        include_running: bool = False,
    ) -> Report:
        """:meth:`BulkClient.delete <aicore_bulk.BulkClient.delete>`, traced."""
        with self._run("delete", kind, Target.DELETED) as run:
            report = await self.client.delete(
                kind,
                ids,
                deadline=deadline,
                confirm=confirm,
                interrupt=interrupt,
                listener=_both(run, listener),
                journal=journal,
                labels=labels,
                include_running=include_running,
            )
            run.record(report)
            return report

    async def stop(
        self,
        kind: Kind,
        ids: Ids,
        *,
        deadline: float | None = None,
        confirm: Confirm | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        journal: JournalPath | None = None,
        labels: Mapping[str, str] | None = None,
        include_running: bool = False,
    ) -> Report:
        """:meth:`BulkClient.stop <aicore_bulk.BulkClient.stop>`, traced."""
        with self._run("stop", kind, Target.STOPPED) as run:
            report = await self.client.stop(
                kind,
                ids,
                deadline=deadline,
                confirm=confirm,
                interrupt=interrupt,
                listener=_both(run, listener),
                journal=journal,
                labels=labels,
                include_running=include_running,
            )
            run.record(report)
            return report

    async def plan(
        self,
        kind: Kind,
        ids: Ids,
        *,
        target: Literal["DELETED", "STOPPED"] | Target = "DELETED",
        listener: Listener | None = None,
        include_running: bool = False,
    ) -> Plan:
        """:meth:`BulkClient.plan <aicore_bulk.BulkClient.plan>`, traced."""
        with self._run("plan", kind, None) as run:
            plan = await self.client.plan(
                kind,
                ids,
                target=target,
                listener=_both(run, listener),
                include_running=include_running,
            )
            run.record(plan)
            return plan

    async def resume(
        self,
        journal: JournalPath,
        *,
        deadline: float | None = None,
        interrupt: anyio.Event | None = None,
        listener: Listener | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Report:
        """:meth:`BulkClient.resume <aicore_bulk.BulkClient.resume>`, traced."""
        try:
            record = read_journal(journal)
        except BulkError:  # the client says what is wrong with it, inside the span
            kind, target = None, None
        else:
            kind, target = record.kind, record.target
        with self._run("resume", kind, target) as run:
            report = await self.client.resume(
                journal,
                deadline=deadline,
                interrupt=interrupt,
                listener=_both(run, listener),
                labels=labels,
            )
            run.record(report)
            return report

    def _run(
        self, operation: Operation, kind: Kind | None, target: Target | None
    ) -> AbstractContextManager[RunTrace]:
        return self.telemetry.run(
            operation, resource_group=self.client.resource_group, kind=kind, target=target
        )


def instrument(
    client: BulkClient,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> InstrumentedClient:
    """``client``, with a span per run and metrics (global providers unless given)."""
    return InstrumentedClient(
        client, Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    )


def _both(run: RunTrace, listener: Listener | None) -> Listener:
    if listener is None:
        return run

    def both(event: Event) -> None:
        run(event)
        listener(event)

    return both


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop: a synchronous caller
        return None
