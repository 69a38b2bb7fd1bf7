"""The concurrency window against the simulator: it finds a server's capacity, or the cap."""

from __future__ import annotations

import logging

import pytest

from aicore_bulk import Limits, RequestAnswered, RequestSent
from aicore_bulk.testing import Faults, SimulatorConfig


class InFlight:
    """Counts the run's requests in flight, and the most of them after the first ``skip``.

    The simulator's statistics start afresh then: they show the settled window alone.
    """

    def __init__(self, skip: int, simulator) -> None:
        self.skip, self.simulator = skip, simulator
        self.sent = self.now = self.peak_later = 0

    def __call__(self, event) -> None:
        """Count a request going out or coming back."""
        if isinstance(event, RequestSent):
            self.sent += 1
            self.now += 1
            if self.sent == self.skip:
                self.simulator.reset_statistics()
            if self.sent > self.skip:
                self.peak_later = max(self.peak_later, self.now)
        elif isinstance(event, RequestAnswered):
            self.now -= 1


def dispatch_done(caplog) -> logging.LogRecord:
    (record,) = [r for r in caplog.records if r.getMessage().startswith("dispatch done")]
    return record


def config(capacity: int | None) -> SimulatorConfig:
    # Single calls: one request per item, so that the window lives through many round trips.
    return SimulatorConfig(capacity=capacity, bulk_executions=False, faults=Faults(latency=0.1))


@pytest.mark.parametrize("aicore_simulator_config", [config(4)], ids=["capacity-4"])
async def test_the_window_settles_near_a_small_servers_capacity(
    make_client, aicore_simulator, caplog
):
    """Against 4 workers and a cap of 64, the window settles near 4: few requests queue."""
    caplog.set_level(logging.INFO, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 400, statuses={"DEAD": 1})
    watch = InFlight(100, aicore_simulator)

    async with make_client(limits=Limits(concurrency=64)) as client:
        report = await client.delete("executions", ids, listener=watch)

    assert report.summary.outcomes["deleted"] == 400
    done = dispatch_done(caplog)
    assert 3 <= done.window <= 5
    assert done.window_peak <= 20
    assert watch.peak_later <= 8
    settled = aicore_simulator.statistics()  # the requests after the first 100
    assert settled.peak_in_flight <= 8
    assert settled.latency.p95 <= 0.15


@pytest.mark.parametrize("aicore_simulator_config", [config(None)], ids=["unlimited"])
async def test_with_unlimited_capacity_the_window_reaches_the_cap(
    make_client, aicore_simulator, caplog
):
    """A server that serves everything at once sees the cap of 64 in flight."""
    caplog.set_level(logging.INFO, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 400, statuses={"DEAD": 1})

    async with make_client(limits=Limits(concurrency=64)) as client:
        await client.delete("executions", ids)

    done = dispatch_done(caplog)
    assert done.window_peak == done.window == 64
    assert aicore_simulator.statistics().peak_in_flight == 64


@pytest.mark.parametrize("aicore_simulator_config", [config(4)], ids=["capacity-4"])
async def test_a_fixed_concurrency_keeps_every_request_in_flight(
    make_client, aicore_simulator, caplog
):
    """With adaptive=False the run keeps its 16 in flight, queue or not, as before."""
    caplog.set_level(logging.INFO, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 100, statuses={"DEAD": 1})

    async with make_client(limits=Limits(concurrency=16, adaptive=False)) as client:
        await client.delete("executions", ids)

    done = dispatch_done(caplog)
    assert done.window_peak == done.window == 16
    assert aicore_simulator.statistics().peak_in_flight == 16
