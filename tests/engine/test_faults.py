"""Cleanups under injected faults: nothing lost, every outcome matches the ground truth."""

from __future__ import annotations

import json

import anyio
import pytest

from aicore_bulk import (
    BulkClient,
    Limits,
    MockTransport,
    Outcome,
    RequestAnswered,
    Response,
    RetryPolicy,
    ServiceError,
    TransportError,
)
from aicore_bulk.testing import Faults, Lifecycle, SimulatorConfig, VirtualClock

MIX = {"COMPLETED": 5, "DEAD": 2, "RUNNING": 2, "STOPPING": 1}


def assert_truthful(report, sim, ids, kind="executions"):
    """Every ID once; 'deleted' only where the item really is deleted; no violation."""
    results = {item.id: item for item in report}
    assert set(results) == set(ids)
    assert len(report) == len(ids)
    for item_id, result in results.items():
        state = sim.state(kind, item_id)
        deleted = state is None or state.deleted
        if result.outcome in {Outcome.DELETED, Outcome.ALREADY_ABSENT, Outcome.ALREADY_DELETING}:
            assert deleted, (item_id, result)
        elif result.outcome is not Outcome.UNKNOWN:
            assert not deleted, (item_id, result)
    stats = sim.statistics()
    assert stats.violation_count == 0, stats.violations[:5]
    assert max(stats.bulk_sizes, default=0) <= 100


def faulty(**knobs):
    return SimulatorConfig(faults=Faults(**knobs), seed=11)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [
        faulty(rate_limit=20.0, rate_burst=5),
        faulty(rate_limit=5.0, rate_burst=2, retry_after="http-date"),
        faulty(throttle_burst_every=30.0, throttle_burst_length=3.0),
        faulty(server_errors=0.15),
        faulty(unavailable=0.1, unavailable_retry_after=2.0),
        faulty(dropped_connections=0.1),
        faulty(truncated_bodies=0.2),
        faulty(malformed_bodies=0.2),
    ],
    ids=[
        "429-seconds",
        "429-http-date",
        "429-bursts",
        "5xx",
        "503-retry-after",
        "drops",
        "truncated",
        "malformed",
    ],
)
async def test_delete_survives_each_fault(client, aicore_simulator):
    """Under each fault alone the cleanup still deletes everything, and says so truthfully."""
    ids = aicore_simulator.seed("executions", 2_000, statuses=MIX)

    report = await client.delete("executions", ids)

    assert_truthful(report, aicore_simulator, ids)
    assert report.summary.outcomes[Outcome.DELETED] >= 1_990
    assert report.summary.outcomes[Outcome.FAILED] == 0


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(rate_limit=10.0, rate_burst=2)], ids=["429"]
)
async def test_throttling_pauses_the_whole_dispatcher(client, aicore_simulator):
    """After a 429 every request waits: 429s stay a small share of all requests."""
    ids = aicore_simulator.seed("executions", 3_000, statuses={"DEAD": 1})

    report = await client.delete("executions", ids)

    stats = aicore_simulator.statistics()
    assert report.ok
    assert report.summary.throttled == stats.throttled > 0
    assert stats.throttled <= stats.total_requests * 0.6


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [
        SimulatorConfig(
            seed=5, lifecycle=Lifecycle(complete=0.3, die=0.2, stopped_by_others=0.3, within=8.0)
        )
    ],
    ids=["lifecycle"],
)
async def test_items_that_change_under_the_cleanup(client, aicore_simulator):
    """Items that complete, die or get stopped mid-run still end deleted, with no violation."""
    ids = aicore_simulator.seed(
        "executions", 1_000, statuses={"RUNNING": 3, "PENDING": 1, "COMPLETED": 1}
    )

    report = await client.delete("executions", ids)

    assert_truthful(report, aicore_simulator, ids)
    assert report.ok


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(server_errors=1.0)], ids=["dead-server"]
)
async def test_a_server_dead_from_the_start_is_an_error_with_nothing_changed(
    make_client, aicore_simulator
):
    """If nothing can be read, the run raises ServiceError: no item was touched or is in doubt."""
    async with make_client(retry=RetryPolicy(attempts=3, budget=10)) as client:
        with pytest.raises(ServiceError, match="HTTP 5"):
            await client.delete("executions", ["item-00001"])

    assert aicore_simulator.statistics().mutating_requests == 0


async def test_a_server_that_dies_mid_run_ends_it_within_the_retry_budget(
    make_client, aicore_simulator
):
    """When the server dies after changes began, the budget ends the run; nothing is lost."""
    ids = aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})

    def kill_after_first_change(event):
        if isinstance(event, RequestAnswered) and event.operation == "bulk":
            aicore_simulator.set_faults(Faults(server_errors=1.0))

    async with make_client(
        retry=RetryPolicy(attempts=4, budget=12),
        limits=Limits(concurrency=2),
        listener=kill_after_first_change,
    ) as client:
        report = await client.delete("executions", ids)

    outcomes = report.summary.outcomes
    assert len(report) == 1_000
    assert outcomes[Outcome.DELETED] >= 100
    assert outcomes[Outcome.DELETED] + outcomes[Outcome.UNKNOWN] == 1_000
    assert report.summary.retries <= 12
    assert aicore_simulator.statistics().mutating_requests <= 10 + 12
    for item in report.by_outcome(Outcome.DELETED):
        assert aicore_simulator.state("executions", item.id).deleted


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(token_lifetime=5.0, stop_delay=20.0)],
    ids=["short-tokens"],
)
async def test_expiring_tokens_are_refreshed(client, aicore_simulator):
    """Tokens that expire mid-run are refetched; the run does not notice."""
    ids = aicore_simulator.seed("executions", 500, statuses={"RUNNING": 1, "DEAD": 1})

    report = await client.delete("executions", ids)

    assert report.ok
    assert aicore_simulator.statistics().requests["token"] > 1


# The final read: items still in doubt at the end are read once more and settled by it.

ITEM = "e-0001"
#: Tries per read: the re-read after the lost answer fails this many times, then gives up.
TRIES = 2


class InDoubt:
    """A service that loses the answer to every change and fails the re-read after it.

    The item is then ``unknown`` until the run's final read, which gets ``final``.
    """

    def __init__(self, status, final, *, clock=None, interrupt=None, hang=False):
        self.status, self.final = status, final
        self.clock, self.interrupt, self.hang = clock, interrupt, hang
        self.changes = 0
        self.reads_after_change = 0

    async def __call__(self, request):
        """Answer one request as the story goes."""
        url = request.url
        if url.endswith("/oauth/token"):
            return Response(200, {}, b'{"access_token": "t", "expires_in": 3600}')
        if url.endswith("/lm/meta"):
            meta = {"aiApi": {"capabilities": {"bulkUpdates": {"executions": True}}}}
            return Response(200, {}, json.dumps(meta).encode())
        if url.endswith("/$count"):
            return Response(200, {}, b"1")
        if request.method == "GET" and not self.changes:
            return Response(200, {}, json.dumps({"id": ITEM, "status": self.status}).encode())
        if request.method == "GET":
            self.reads_after_change += 1
            if self.reads_after_change <= TRIES:
                return Response(500, {}, b"<html>Internal Server Error</html>")
            if self.hang:
                await self.clock.sleep(10_000)
            status, body = self.final
            return Response(
                status, {}, body if isinstance(body, bytes) else json.dumps(body).encode()
            )
        self.changes += 1  # the change acts (or not) as the final read will show
        if self.interrupt is not None:
            self.interrupt.set()
        raise TransportError("timeout", "no answer within 30 s")


def in_doubt_client(service, clock=None):
    return BulkClient(
        base_url="https://api.example.com",
        resource_group="g",
        auth_url="https://auth.example.com",
        client_id="c",
        client_secret="s",
        transport=MockTransport(service),
        clock=clock or VirtualClock(),
        retry=RetryPolicy(attempts=TRIES),
    )


NOT_FOUND = (404, {"error": {"code": "01010020", "message": "Execution not found"}})


def shows(status, target=None):
    resource = {"id": ITEM, "status": status}
    if target is not None:
        resource["targetStatus"] = target
    return (200, resource)


@pytest.mark.parametrize(
    ("run", "before", "final", "outcome", "message"),
    [
        ("delete", "DEAD", NOT_FOUND, Outcome.DELETED, "gone after our unconfirmed delete"),
        (
            "delete",
            "DEAD",
            shows("DEAD", "DELETED"),
            Outcome.DELETED,
            "deletion scheduled after our unconfirmed delete",
        ),
        ("delete", "DEAD", shows("DEAD"), Outcome.FAILED, "not deleted: still DEAD at the final"),
        ("stop", "RUNNING", shows("STOPPING"), Outcome.STOPPED, "stopped; now STOPPING"),
        ("stop", "RUNNING", shows("STOPPED"), Outcome.STOPPED, "stopped; now STOPPED"),
        ("stop", "RUNNING", shows("RUNNING"), Outcome.FAILED, "not stopped: still RUNNING at"),
        ("stop", "RUNNING", shows("COMPLETED"), Outcome.UNCHANGED, "already COMPLETED"),
        ("stop", "RUNNING", NOT_FOUND, Outcome.ALREADY_ABSENT, "not found"),
        ("delete", "DEAD", (500, b"<html>down</html>"), Outcome.UNKNOWN, "no answer within 30 s"),
    ],
    ids=[
        "delete-then-gone",
        "delete-then-scheduled",
        "delete-then-still-there",
        "stop-then-stopping",
        "stop-then-stopped",
        "stop-then-still-running",
        "stop-then-completed",
        "stop-then-gone",
        "final-read-fails-too",
    ],
)
async def test_an_item_in_doubt_is_settled_by_the_final_read(run, before, final, outcome, message):
    """An item left unknown is read once more at the end and settled by what that read shows."""
    service = InDoubt(before, final)

    async with in_doubt_client(service) as client:
        report = await getattr(client, run)("executions", [ITEM])

    (item,) = report
    assert item.outcome is outcome
    assert item.message.startswith(message)
    assert service.changes == 1  # the final read sends nothing
    assert service.reads_after_change == TRIES + (TRIES if outcome is Outcome.UNKNOWN else 1)


async def test_an_interrupted_run_skips_the_final_read():
    """After an interrupt, items in doubt stay unknown: nothing more is read."""
    interrupt = anyio.Event()
    service = InDoubt("DEAD", NOT_FOUND, interrupt=interrupt)

    async with in_doubt_client(service) as client:
        report = await client.delete("executions", [ITEM], interrupt=interrupt)

    (item,) = report
    assert report.summary.interrupted
    assert item.outcome is Outcome.UNKNOWN
    assert service.reads_after_change == 0


async def test_the_final_read_ends_at_the_deadline():
    """A final read that never answers is cut off at the run's deadline; the item stays unknown."""
    clock = VirtualClock()
    service = InDoubt("DEAD", NOT_FOUND, clock=clock, hang=True)

    async with in_doubt_client(service, clock) as client:
        report = await client.delete("executions", [ITEM], deadline=120.0)

    (item,) = report
    assert item.outcome is Outcome.UNKNOWN
    assert report.summary.seconds < 200
