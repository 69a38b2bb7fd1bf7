"""The server-capacity knob: at most K AI API requests served at once, the rest queued."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from aicore_bulk._simulator._capacity import Capacity
from aicore_bulk._simulator._stats import Latency, Recorder
from aicore_bulk.testing import Faults, SimulatorConfig, VirtualClock


async def timed_calls(api, clock, count: int) -> list[float]:
    """Send ``count`` list requests at once; how long each took on the virtual clock."""

    async def one() -> float:
        before = clock.now
        status, _, _ = await api.call("GET", "/lm/executions")
        assert status == 200
        return round(clock.now - before, 6)

    return sorted(await asyncio.gather(*(one() for _ in range(count))))


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(capacity=2, faults=Faults(latency=0.1))],
    ids=["capacity-2"],
)
async def test_beyond_its_capacity_requests_wait_their_turn(api, aicore_simulator, aicore_clock):
    """Six requests at once on two workers are served two by two, in 0.1, 0.2 and 0.3 s."""
    took = await timed_calls(api, aicore_clock, 6)

    assert took == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]
    stats = aicore_simulator.statistics()
    assert stats.peak_in_flight == 6
    assert stats.peak_queued == 4
    assert stats.queued == 4
    assert stats.latency.count == 6
    assert stats.latency.p50 == pytest.approx(0.2)
    assert stats.latency.p95 == pytest.approx(0.3)
    assert stats.latency.max == pytest.approx(0.3)


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(faults=Faults(latency=0.1))], ids=["unlimited"]
)
async def test_unlimited_capacity_serves_every_request_at_once(api, aicore_simulator, aicore_clock):
    """By default nothing queues: every request takes the latency, and p95 is the latency."""
    took = await timed_calls(api, aicore_clock, 6)

    assert took == [0.1] * 6
    stats = aicore_simulator.statistics()
    assert stats.peak_queued == stats.queued == 0
    assert stats.latency.p95 == pytest.approx(0.1)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(capacity=1, faults=Faults(latency=0.1, rate_limit=0.001, rate_burst=1))],
    ids=["capacity-1-throttled"],
)
async def test_refusals_and_the_token_endpoint_take_no_worker(api, aicore_simulator, aicore_clock):
    """A 429 is the gateway's, the token endpoint another service: neither waits or counts."""
    await api.fetch_token()

    statuses = [
        status
        for status, _, _ in await asyncio.gather(
            *(api.call("GET", "/lm/executions") for _ in range(3))
        )
    ]

    assert sorted(statuses) == [200, 429, 429]
    stats = aicore_simulator.statistics()
    assert stats.queued == 0
    assert stats.latency.count == 1


@pytest.mark.parametrize(
    "aicore_simulator_config", [SimulatorConfig(capacity=3)], ids=["capacity-3"]
)
async def test_the_statistics_endpoint_shows_capacity_queue_and_latency(api, aicore_server):
    """``/_simulator/statistics`` carries capacity, peak_queued, queued and the latency figures."""
    await api.call("GET", "/lm/executions")

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{aicore_server.url}/_simulator/statistics") as response,
    ):
        stats = await response.json()

    assert stats["capacity"] == 3
    assert stats["peak_queued"] == stats["queued"] == 0
    assert set(stats["latency"]) == {"count", "mean", "p50", "p95", "p99", "max"}
    assert stats["latency"]["count"] == 1


@pytest.mark.parametrize("capacity", [0, -1, 1.5])
def test_a_capacity_below_one_or_not_whole_is_refused(capacity):
    """SimulatorConfig(capacity=...) takes a whole number of at least 1, or None."""
    with pytest.raises((ValueError, TypeError)):
        SimulatorConfig(capacity=capacity)


def one_worker() -> tuple[Capacity, Recorder, list[str], dict[str, asyncio.Event]]:
    """A capacity of one, the order requests got served in, and an event to end each one."""
    return Capacity(1, VirtualClock()), Recorder(), [], {}


async def start(capacity, recorder, order, done, name: str) -> asyncio.Task[None]:
    """Start a request that holds its place until ``done[name]`` is set."""
    done[name] = asyncio.Event()

    async def serve() -> None:
        async with capacity.served(recorder):
            order.append(name)
            await done[name].wait()

    task = asyncio.create_task(serve())
    await asyncio.sleep(0)
    return task


@pytest.mark.parametrize("when", ["while waiting", "as the worker frees up"])
async def test_a_waiter_that_gives_up_leaves_its_place_to_the_next(when):
    """A queued request cancelled while it waits does not keep a worker from the next one."""
    capacity, recorder, order, done = parts = one_worker()
    first = await start(*parts, "first")
    quitter = await start(*parts, "quitter")
    last = await start(*parts, "last")

    if when == "while waiting":
        quitter.cancel()
        await asyncio.sleep(0)
        done["first"].set()
    else:
        done["first"].set()  # the first leaves before the quitter sees its cancellation
        quitter.cancel()
    await asyncio.sleep(0)
    done["last"].set()
    await asyncio.gather(first, quitter, last, return_exceptions=True)

    assert order == ["first", "last"]
    assert capacity.serving == 0
    assert recorder.peak_queued == 2


async def test_a_place_handed_to_a_request_that_just_gave_up_goes_to_the_next():
    """Cancelled right after its turn came, a request passes its worker on."""
    capacity, _, order, done = parts = one_worker()
    first = await start(*parts, "first")
    unlucky = await start(*parts, "unlucky")
    last = await start(*parts, "last")

    done["first"].set()
    await asyncio.sleep(0)  # the first leaves and hands its place to the unlucky one
    unlucky.cancel()  # before it could take it
    await asyncio.sleep(0)
    done["last"].set()
    await asyncio.gather(first, unlucky, last, return_exceptions=True)

    assert order == ["first", "last"]
    assert capacity.serving == 0


def test_latency_figures_are_nearest_rank_percentiles():
    """p50, p95 and p99 are times some request really took; no samples give zeros."""
    figures = Latency.of(float(n) for n in range(1, 101))

    assert (figures.count, figures.p50, figures.p95, figures.p99, figures.max) == (
        100,
        50.0,
        95.0,
        99.0,
        100.0,
    )
    assert figures.mean == pytest.approx(50.5)
    assert Latency.of([]) == Latency()
