"""The synchronous one-liners, progress events and concurrency limits."""

from __future__ import annotations

import anyio
import pytest

import aicore_bulk
from aicore_bulk import (
    ItemSettled,
    Limits,
    Outcome,
    PhaseDone,
    PlanReady,
    RequestAnswered,
    RequestSent,
    Route,
    Selection,
    Status,
)
from aicore_bulk.testing import Faults, Simulator, SimulatorConfig, serve_in_thread


def test_delete_sync_runs_from_plain_python(monkeypatch):
    """delete_sync works from synchronous code, configured by AICORE_* variables."""
    sim = Simulator(SimulatorConfig(stop_delay=0.0))
    ids = sim.seed("executions", 120, statuses={"RUNNING": 1, "COMPLETED": 3})
    with serve_in_thread(sim) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        report = aicore_bulk.delete_sync(
            "executions", ids, options=aicore_bulk.RunOptions(poll_interval=0.01)
        )

    assert report.ok
    assert all(sim.state("executions", i).deleted for i in ids)


def test_plan_and_stop_sync(monkeypatch):
    """plan_sync reads only; stop_sync stops."""
    sim = Simulator()
    ids = sim.seed("executions", 10, statuses={"RUNNING": 1})
    with serve_in_thread(sim) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        plan = aicore_bulk.plan_sync("executions", ids, target="STOPPED")
        mutating_after_plan = sim.statistics().mutating_requests
        report = aicore_bulk.stop_sync("executions", ids)

    assert {route: n for route, n in plan.paths.items() if n} == {Route.STOP: 10}
    assert mutating_after_plan == 0
    assert {i.outcome for i in report} == {Outcome.STOPPED}


def test_sync_one_liners_take_a_selection(monkeypatch):
    """plan_sync, stop_sync and delete_sync take a Selection and act on what it selects only."""
    sim = Simulator()
    sim.seed("executions", 50, statuses={"DEAD": 3, "RUNNING": 2})
    by_status = {
        status: {i for i, s in sim.states("executions").items() if s.status == status}
        for status in ("DEAD", "RUNNING")
    }
    with serve_in_thread(sim) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        plan = aicore_bulk.plan_sync("executions", Selection(statuses="dead"))
        mutating_after_plan = sim.statistics().mutating_requests
        stopped = aicore_bulk.stop_sync("executions", Selection(statuses=Status.RUNNING))
        deleted = aicore_bulk.delete_sync("executions", Selection(statuses="DEAD"))

    assert {item.id for item in plan.items} == by_status["DEAD"]
    assert plan.paths[Route.DELETE] == 30
    assert mutating_after_plan == 0
    assert {i.id for i in stopped.by_outcome(Outcome.STOPPED)} == by_status["RUNNING"]
    assert {i.id for i in deleted.by_outcome(Outcome.DELETED)} == by_status["DEAD"]
    assert len(deleted) == 30
    assert not any(sim.state("executions", i).deleted for i in by_status["RUNNING"])


async def test_sync_entry_points_work_inside_a_running_loop(monkeypatch):
    """Called where an event loop already runs (a notebook), they use a worker thread."""
    sim = Simulator()
    ids = sim.seed("executions", 5, statuses={"DEAD": 1})
    with serve_in_thread(sim) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        report = aicore_bulk.delete_sync("executions", ids)

    assert report.ok


async def test_progress_events_follow_the_run(make_client, aicore_simulator):
    """A listener sees the plan, every request, each item settling, and the phases end."""
    ids = aicore_simulator.seed("executions", 250, statuses={"RUNNING": 1, "DEAD": 4})
    events = []
    async with make_client(listener=events.append) as client:
        report = await client.delete("executions", ids)

    plans = [e for e in events if isinstance(e, PlanReady)]
    settled = [e.result.id for e in events if isinstance(e, ItemSettled)]
    sent = [e for e in events if isinstance(e, RequestSent)]
    assert len(plans) == 1
    assert {route: n for route, n in plans[0].paths.items() if n} == {
        Route.DELETE: 200,
        Route.STOP_THEN_DELETE: 50,
    }
    assert plans[0].requests == report.summary.mutating_requests == 4
    assert sorted(settled) == sorted(ids)
    assert len(sent) == report.summary.requests
    assert [e.phase for e in events if isinstance(e, PhaseDone)] == ["resolve", "dispatch"]


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(faults=Faults(latency=0.002))], ids=["latency"]
)
async def test_requests_in_flight_never_exceed_the_limit(
    make_client, aicore_simulator, concurrency
):
    """The simulator never sees more requests at once than the concurrency limit."""
    ids = aicore_simulator.seed("executions", 2_000, statuses={"DEAD": 1})
    async with make_client(limits=Limits(concurrency=concurrency)) as client:
        report = await client.delete("executions", ids)

    assert report.ok
    assert aicore_simulator.statistics().peak_in_flight == concurrency


async def test_deadline_ends_the_run_with_every_item_accounted_for(make_client, aicore_simulator):
    """When the run's deadline passes, unsettled items are reported, none lost."""
    aicore_simulator.put("executions", "run-00001", "RUNNING")
    aicore_simulator.put("executions", "dead-0001", "DEAD")
    aicore_simulator.store.stop_delay = 10_000.0
    async with make_client(run_options={"stop_wait": 100_000.0}) as client:
        report = await client.delete("executions", ["run-00001", "dead-0001"], deadline=0.5)

    results = {i.id: i for i in report}
    assert results["dead-0001"].outcome is Outcome.DELETED
    assert results["run-00001"].outcome is Outcome.FAILED
    assert "deadline" in results["run-00001"].message


async def test_an_interrupt_stops_sending_and_accounts_for_every_item(
    make_client, aicore_simulator
):
    """After an interrupt, nothing new is sent; the report has every item, truthfully."""
    ids = aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})
    interrupt = anyio.Event()

    def interrupt_after_first_change(event):
        if isinstance(event, RequestAnswered) and event.operation == "bulk":
            interrupt.set()

    async with make_client(
        limits=Limits(concurrency=1),
        listener=interrupt_after_first_change,
        run_options={"grace": 1.0},
    ) as client:
        report = await client.delete("executions", ids, interrupt=interrupt)

    outcomes = report.summary.outcomes
    assert report.summary.interrupted
    assert len(report) == 1_000
    # The request in flight when the interrupt came may still be answered, no more.
    assert outcomes[Outcome.DELETED] in {100, 200}
    # Items never sent are skipped, and say so; none failed, none is in doubt.
    assert outcomes[Outcome.SKIPPED] == 1_000 - outcomes[Outcome.DELETED]
    assert aicore_simulator.statistics().mutating_requests == outcomes[Outcome.DELETED] // 100
    for item in report.by_outcome(Outcome.SKIPPED):
        assert (item.message, item.attempts) == ("interrupted before sending", 0)
    for item in report:
        assert aicore_simulator.state("executions", item.id).deleted == (
            item.outcome is Outcome.DELETED
        )


async def test_the_time_a_confirmation_takes_is_not_the_runs(
    client, aicore_simulator, aicore_clock
):
    """The report's duration leaves out the time the confirm callback took to answer."""
    ids = aicore_simulator.seed("executions", 10, statuses={"DEAD": 1})

    async def slow_yes(plan):
        await aicore_clock.sleep(600.0)  # a person at lunch
        return True

    began = aicore_clock.monotonic()
    report = await client.delete("executions", ids, confirm=slow_yes)

    assert report.ok
    assert aicore_clock.monotonic() - began >= 600.0
    assert report.summary.seconds < 60.0
