"""Dispatcher invariants as properties, over random tenants and fault schedules.

Each example runs a real cleanup against the simulator over loopback HTTP, in virtual time.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aicore_bulk import AiohttpTransport, BulkClient, Limits, Outcome
from aicore_bulk.testing import Faults, ManualClock, Simulator, SimulatorConfig, serve
from tests.engine.conftest import CountingTransport, VirtualTime

STATUSES = ["PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN"]

tenants = st.lists(st.sampled_from(STATUSES), max_size=260)
fault_schedules = st.builds(
    Faults,
    server_errors=st.sampled_from([0.0, 0.1]),
    unavailable=st.sampled_from([0.0, 0.05]),
    dropped_connections=st.sampled_from([0.0, 0.05]),
    truncated_bodies=st.sampled_from([0.0, 0.05]),
    malformed_bodies=st.sampled_from([0.0, 0.05]),
    rate_limit=st.sampled_from([None, 40.0]),
)


async def cleanup(statuses, *, faults, concurrency, seed, duplicates, unknown, kind="executions"):
    clock = ManualClock()
    sim = Simulator(SimulatorConfig(faults=faults, seed=seed, shuffle_answers=True), clock=clock)
    ids = []
    for n, status in enumerate(statuses):
        sim.put(kind, f"item-{n:05d}", status)
        ids.append(f"item-{n:05d}")
    requested = ids + ids[:duplicates] + [f"gone-{n:04d}" for n in range(unknown)]
    sleep = VirtualTime(clock)
    transport = CountingTransport(AiohttpTransport())
    sleep.transports.append(transport)
    async with (
        serve(sim) as server,
        BulkClient(
            base_url=server.base_url,
            auth_url=server.token_url,
            client_id=server.credentials.client_id,
            client_secret=server.credentials.client_secret,
            resource_group="default",
            limits=Limits(concurrency=concurrency),
            transport=transport,
            clock=clock,
            wall_clock=clock,
            sleep=sleep,
            poll_interval=1.0,
        ) as client,
    ):
        report = await client.delete(kind, requested)
    return sim, requested, report


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tenants,
    fault_schedules,
    st.integers(1, 8),
    st.integers(0, 2**16),
    st.integers(0, 20),
    st.integers(0, 5),
)
def test_every_id_once_and_no_contract_violation(
    statuses, faults, concurrency, seed, dups, unknown
):
    """Whatever the faults, the cleanup keeps every invariant.

    Each ID once, requests of 1..100 distinct IDs, no forbidden change, in-flight within the
    limit, and no item reported deleted that is not.
    """
    sim, requested, report = asyncio.run(
        cleanup(
            statuses,
            faults=faults,
            concurrency=concurrency,
            seed=seed,
            duplicates=dups,
            unknown=unknown,
        )
    )

    reported = [item.id for item in report]
    assert reported == list(dict.fromkeys(requested))
    stats = sim.statistics()
    assert stats.violation_count == 0, stats.violations[:3]
    assert all(1 <= size <= 100 for size in stats.bulk_sizes)
    assert stats.peak_in_flight <= concurrency
    for item in report:
        state = sim.state("executions", item.id)
        gone = state is None or state.deleted
        if item.outcome in {Outcome.DELETED, Outcome.ALREADY_ABSENT}:
            assert gone, item
        elif item.outcome is not Outcome.UNKNOWN:
            assert not gone, item


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenants, st.integers(0, 2**16))
def test_the_report_does_not_depend_on_concurrency(statuses, seed):
    """With no faults, one request at a time and eight at a time give the same outcomes."""
    no_faults = Faults()

    def outcomes(concurrency):
        _, _, report = asyncio.run(
            cleanup(
                statuses,
                faults=no_faults,
                concurrency=concurrency,
                seed=seed,
                duplicates=3,
                unknown=2,
            )
        )
        return {item.id: item.outcome for item in report}

    assert outcomes(1) == outcomes(8)
