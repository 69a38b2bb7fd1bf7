"""OpenTelemetry: a span per run, a span per phase, metrics, and HTTP spans nested under them.

Runs go to the simulator in virtual time; spans and metrics to the SDK's in-memory exporters.
"""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from ast import PyCF_ALLOW_TOP_LEVEL_AWAIT
from pathlib import Path

import pytest

pytest.importorskip(
    "opentelemetry.sdk", reason="needs the otel extra: pip install 'aicore-bulk[otel]'"
)

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

from aicore_bulk import (
    AiohttpTransport,
    AuthenticationError,
    BulkClient,
    InputError,
    Outcome,
    RetryPolicy,
    RunDeclinedError,
    RunOptions,
    delete_sync,
)
from aicore_bulk.integrations import otel
from aicore_bulk.integrations.otel import InstrumentedClient, Telemetry, instrument
from aicore_bulk.testing import Faults, Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def reader():
    return InMemoryMetricReader()


@pytest.fixture
def traced(aicore_client, tracer_provider, reader):
    meter_provider = MeterProvider(metric_readers=[reader])
    yield instrument(aicore_client, tracer_provider=tracer_provider, meter_provider=meter_provider)
    meter_provider.shutdown()


def by_name(exporter):
    spans = {}
    for span in exporter.get_finished_spans():
        spans.setdefault(span.name, []).append(span)
    return spans


def counts(reader, name, key):
    """The counter ``name``'s sums, by the value of attribute ``key``."""
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        value = point.attributes.get(key)
                        found[value] = found.get(value, 0) + point.value
    return found


def seed_mixed(sim):
    running = [f"run-{n:04d}" for n in range(30)]
    completed = [f"done-{n:04d}" for n in range(170)]
    for item_id in running:
        sim.put("executions", item_id, "RUNNING")
    for item_id in completed:
        sim.put("executions", item_id, "COMPLETED")
    return running + completed + ["never-was-1"]


async def test_a_delete_is_a_span_with_a_child_span_per_phase(traced, aicore_simulator, exporter):
    """A delete is one run span with resolve and dispatch children and the report's counts."""
    ids = seed_mixed(aicore_simulator)

    report = await traced.delete("executions", ids)

    spans = by_name(exporter)
    (run,) = spans["aicore_bulk.delete"]
    (resolve,) = spans["aicore_bulk.resolve"]
    (dispatch,) = spans["aicore_bulk.dispatch"]
    assert run.parent is None
    assert resolve.parent.span_id == dispatch.parent.span_id == run.context.span_id
    assert resolve.end_time <= dispatch.start_time
    assert run.status.status_code is StatusCode.UNSET
    attributes = run.attributes
    assert attributes["aicore_bulk.kind"] == "executions"
    assert attributes["aicore_bulk.target"] == "DELETED"
    assert attributes["aicore_bulk.resource_group"] == "default"
    assert attributes["aicore_bulk.items"] == 201
    assert attributes["aicore_bulk.outcome.deleted"] == 200
    assert attributes["aicore_bulk.outcome.already_absent"] == 1
    assert attributes["aicore_bulk.outcome.failed"] == 0
    assert attributes["aicore_bulk.requests"] == report.summary.requests
    assert attributes["aicore_bulk.mutating_requests"] == report.summary.mutating_requests == 3
    assert attributes["aicore_bulk.plan.stop_then_delete"] == 30
    assert attributes["aicore_bulk.plan.requests"] == 3
    assert attributes["aicore_bulk.ok"] is True
    # Every request of the run was made in one of its two phases.
    assert (
        resolve.attributes["aicore_bulk.requests"] + dispatch.attributes["aicore_bulk.requests"]
        == report.summary.requests
    )
    assert dispatch.attributes["aicore_bulk.requests"] >= 3


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(faults=Faults(rate_limit=20, rate_burst=2, server_errors=0.1), seed=3)],
)
@pytest.mark.parametrize(
    "aicore_client_options",
    [{"retry": RetryPolicy(attempts=10), "options": RunOptions(batch_wait=0.5)}],
)
async def test_metrics_count_items_requests_retries_and_throttles(traced, aicore_simulator, reader):
    """The counters add up to the report's figures, 429s and retries included."""
    ids = seed_mixed(aicore_simulator)

    report = await traced.delete("executions", ids)

    summary = report.summary
    assert summary.throttled > 0
    assert summary.retries > 0
    items = counts(reader, "aicore_bulk.items", "outcome")
    assert items == {o.value: n for o, n in summary.outcomes.items() if n}
    assert sum(counts(reader, "aicore_bulk.requests", "operation").values()) == summary.requests
    assert set(counts(reader, "aicore_bulk.requests", "operation")) >= {"meta", "bulk"}
    assert sum(counts(reader, "aicore_bulk.retries", "kind").values()) == summary.retries
    assert counts(reader, "aicore_bulk.throttled", "kind") == {"executions": summary.throttled}


async def test_a_dry_run_has_no_dispatch_and_counts_no_items(
    traced, aicore_simulator, exporter, reader
):
    """A plan is a run span with a resolve phase only; its items are not counted as settled."""
    ids = seed_mixed(aicore_simulator)

    plan = await traced.plan("executions", ids)

    spans = by_name(exporter)
    (run,) = spans["aicore_bulk.plan"]
    assert "aicore_bulk.dispatch" not in spans
    assert spans["aicore_bulk.resolve"][0].parent.span_id == run.context.span_id
    assert run.attributes["aicore_bulk.items"] == 201
    assert run.attributes["aicore_bulk.requests"] == plan.reads
    assert run.attributes["aicore_bulk.plan.absent"] == 1
    assert counts(reader, "aicore_bulk.items", "outcome") == {}
    assert sum(counts(reader, "aicore_bulk.requests", "operation").values()) == plan.reads


@pytest.mark.parametrize("aicore_simulator_config", [SimulatorConfig(stop_delay=120)])
@pytest.mark.parametrize("aicore_client_options", [{"options": RunOptions(stop_wait=60)}])
async def test_a_report_with_failures_marks_the_run_span_as_an_error(
    traced, aicore_simulator, exporter
):
    """Items that did not reach their goal set the run span's status to ERROR, saying how many."""
    aicore_simulator.put("executions", "run-0001", "RUNNING")

    report = await traced.stop("executions", ["run-0001"])
    assert report.ok
    report = await traced.delete("executions", ["run-0001"])

    assert report.items[0].outcome is Outcome.FAILED
    spans = by_name(exporter)
    assert spans["aicore_bulk.stop"][0].attributes["aicore_bulk.target"] == "STOPPED"
    (run,) = spans["aicore_bulk.delete"]
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "1 of 1 items did not reach DELETED"
    assert run.attributes["aicore_bulk.ok"] is False


async def test_an_error_is_recorded_on_the_run_and_the_open_phase(
    aicore_server, aicore_clock, tracer_provider, exporter
):
    """A run that raises (bad credentials) leaves both spans ended, with the exception."""
    client = BulkClient(
        base_url=aicore_server.base_url,
        auth_url=aicore_server.token_url,
        client_id=aicore_server.credentials.client_id,
        client_secret="not-the-secret",
        resource_group="default",
        clock=aicore_clock,
        transport=aicore_clock.track(AiohttpTransport()),
    )
    async with client:
        with pytest.raises(AuthenticationError):
            await instrument(client, tracer_provider=tracer_provider).delete(
                "executions", ["run-0001"]
            )

    spans = by_name(exporter)
    for name in ("aicore_bulk.delete", "aicore_bulk.resolve"):
        (span,) = spans[name]
        assert span.status.status_code is StatusCode.ERROR, name
        assert [event.name for event in span.events] == ["exception"], name
    assert "not-the-secret" not in str([span.to_json() for span in exporter.get_finished_spans()])


async def test_a_declined_run_ends_every_span_it_began(traced, aicore_simulator, exporter):
    """A run its confirmation declines ends its dispatch span too, with the refusal recorded."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")

    with pytest.raises(RunDeclinedError):
        await traced.delete("executions", ["done-0001"], confirm=lambda _: False)

    spans = by_name(exporter)
    assert set(spans) == {"aicore_bulk.delete", "aicore_bulk.resolve", "aicore_bulk.dispatch"}
    assert spans["aicore_bulk.resolve"][0].status.status_code is StatusCode.UNSET
    assert spans["aicore_bulk.dispatch"][0].status.description == "RunDeclinedError"
    assert not aicore_simulator.state("executions", "done-0001").deleted


def test_a_run_block_left_early_ends_its_phase_without_an_error(tracer_provider, exporter):
    """Leaving ``Telemetry.run`` before any event still ends the resolve span, as a success."""
    with Telemetry(tracer_provider=tracer_provider).run("stop", resource_group="team-a"):
        pass

    spans = by_name(exporter)
    assert spans["aicore_bulk.resolve"][0].status.status_code is StatusCode.UNSET
    assert spans["aicore_bulk.stop"][0].attributes["aicore_bulk.resource_group"] == "team-a"


async def test_the_run_nests_under_the_callers_span_and_restores_it(
    traced, aicore_simulator, tracer_provider, exporter
):
    """The run span is a child of the current span, which is current again afterwards."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")
    tracer = tracer_provider.get_tracer("a job")

    with tracer.start_as_current_span("nightly cleanup") as job:
        await traced.delete("executions", ["done-0001"])
        assert trace.get_current_span() is job

    spans = by_name(exporter)
    assert spans["aicore_bulk.delete"][0].parent.span_id == job.get_span_context().span_id


async def test_a_listener_given_to_the_call_still_hears_every_event(traced, aicore_simulator):
    """The caller's own listener receives the run's events alongside the instrumentation."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")
    heard = []

    await traced.delete("executions", ["done-0001"], listener=heard.append)
    await traced.plan("executions", ["done-0001"], listener=heard.append)

    names = [type(event).__name__ for event in heard]
    assert names.count("PlanReady") == 2
    assert "ItemSettled" in names


async def test_a_resume_is_traced_with_the_journals_kind(
    traced, aicore_simulator, exporter, tmp_path
):
    """A resume's span takes its kind from the journal; a missing journal's error is recorded."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")
    journal = tmp_path / "run.journal"
    await traced.delete("executions", ["done-0001"], journal=journal)

    report = await traced.resume(journal)
    with pytest.raises(InputError):
        await traced.resume(tmp_path / "missing.journal")

    assert report.summary.carried_over == 1
    first, missing = by_name(exporter)["aicore_bulk.resume"]
    assert first.attributes["aicore_bulk.kind"] == "executions"
    assert first.attributes["aicore_bulk.target"] == "DELETED"
    assert "aicore_bulk.kind" not in missing.attributes
    assert missing.status.status_code is StatusCode.ERROR


@pytest.fixture
def aiohttp_instrumented(tracer_provider):
    """The aiohttp client instrumentation, on for the test (before any request is made)."""
    aiohttp_client = pytest.importorskip(
        "opentelemetry.instrumentation.aiohttp_client",
        reason="needs opentelemetry-instrumentation-aiohttp-client (nox -s otel)",
    )
    instrumentor = aiohttp_client.AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


async def test_aiohttps_http_spans_nest_under_the_phase_that_made_them(
    aiohttp_instrumented, traced, aicore_simulator, exporter, caplog
):
    """With aiohttp instrumented, each HTTP span's parent is the resolve or the dispatch span."""
    ids = seed_mixed(aicore_simulator)
    caplog.set_level(logging.WARNING)

    report = await traced.delete("executions", ids)

    spans = by_name(exporter)
    (resolve,) = spans["aicore_bulk.resolve"]
    (dispatch,) = spans["aicore_bulk.dispatch"]
    http = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.CLIENT]
    parent = {"resolve": resolve.context.span_id, "dispatch": dispatch.context.span_id}
    under = {
        phase: sorted(s.name for s in http if s.parent.span_id == span_id)
        for phase, span_id in parent.items()
    }
    # The token and the reads while resolving; the changes and the stop-wait polls after.
    assert len(http) == report.summary.requests + 1  # + the token
    assert under["resolve"] == ["GET", "GET", "GET", "POST"]  # meta, $count, the list; token
    assert under["dispatch"].count("PATCH") == report.summary.mutating_requests
    assert len(under["resolve"]) + len(under["dispatch"]) == len(http)
    assert not caplog.records  # OpenTelemetry logs an error when a context cannot be detached


def test_from_synchronous_code_the_http_spans_nest_under_the_run_span(
    aiohttp_instrumented, tracer_provider, exporter, monkeypatch
):
    """``Telemetry.run`` around ``delete_sync``: phases are spans, requests nest under the run."""
    sim = Simulator(SimulatorConfig(stop_delay=0.0))
    sim.put("executions", "run-0001", "RUNNING")
    telemetry = Telemetry(tracer_provider=tracer_provider)

    with serve_in_thread(sim) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        with telemetry.run("delete", resource_group="default", kind="executions") as run:
            report = delete_sync(
                "executions", ["run-0001"], options=RunOptions(poll_interval=0.01), listener=run
            )
            run.record(report)

    assert report.ok
    spans = by_name(exporter)
    (run_span,) = spans["aicore_bulk.delete"]
    assert spans["aicore_bulk.dispatch"][0].parent.span_id == run_span.context.span_id
    http = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.CLIENT]
    assert len(http) == report.summary.requests + 1
    assert {s.parent.span_id for s in http} == {run_span.context.span_id}


async def test_the_observability_pages_python_blocks_run(monkeypatch):
    """Each Python block of docs/observability.md runs as written against the simulator."""
    pytest.importorskip(
        "opentelemetry.instrumentation.aiohttp_client",
        reason="needs opentelemetry-instrumentation-aiohttp-client (nox -s otel)",
    )
    from opentelemetry.instrumentation.aiohttp_client import (  # noqa: PLC0415
        AioHttpClientInstrumentor,
    )

    text = (Path(__file__).parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)
    assert len(blocks) == 3
    sim = Simulator(SimulatorConfig(stop_delay=0.0))
    reports = []
    try:
        with serve_in_thread(sim) as server:
            for name, value in server.environment().items():
                monkeypatch.setenv(name, value)
            for n, block in enumerate(blocks):
                sim.put("executions", f"run-{n}", "COMPLETED")  # no stop wait in real time
                namespace = {"__name__": "__docs__", "ids": [f"run-{n}"]}
                code = compile(block, "observability.md", "exec", flags=PyCF_ALLOW_TOP_LEVEL_AWAIT)
                awaitable = eval(code, namespace)  # noqa: S307 - our own page's code
                if awaitable is not None:
                    await awaitable
                if "report" in namespace:
                    reports.append(namespace["report"])
    finally:
        AioHttpClientInstrumentor().uninstrument()

    assert [report.ok for report in reports] == [True, True]
    assert [sim.state("executions", f"run-{n}").deleted for n in range(3)] == [True, False, True]


@pytest.mark.parametrize("method", ["delete", "stop", "plan", "resume"])
def test_the_instrumented_methods_take_the_clients_arguments(method):
    """Each traced method has the same parameters, defaults and kinds as the client's."""
    traced = instrument(BulkClient(base_url="http://127.0.0.1:1", resource_group="g", token="t"))
    assert repr(traced) == f"<InstrumentedClient {traced.client!r}>"
    ours = inspect.signature(getattr(InstrumentedClient, method)).parameters
    theirs = inspect.signature(getattr(BulkClient, method)).parameters

    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]


def test_the_modules_public_names_are_pinned():
    """The OpenTelemetry integration exports exactly these names."""
    assert otel.__all__ == ["InstrumentedClient", "RunTrace", "Telemetry", "instrument"]


def test_importing_aicore_bulk_does_not_import_opentelemetry():
    """``import aicore_bulk`` loads no OpenTelemetry module: the extra costs nothing unused."""
    code = "import sys, aicore_bulk; print(any(m.startswith('opentelemetry') for m in sys.modules))"

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=bare_environment(),
    )

    assert result.stdout.strip() == "False"
