"""The start of a run: after the token, meta, ``$count`` and the first list page go together."""

from __future__ import annotations

import json

import pytest

from aicore_bulk import (
    AuthenticationError,
    BulkClient,
    MockTransport,
    Outcome,
    RequestSent,
    Response,
    RetryPolicy,
    Route,
    ServiceError,
)
from aicore_bulk.testing import Faults, SimulatorConfig, VirtualClock

#: Seconds every AI API request takes on the simulator (its token endpoint takes none).
LATENCY = 1.0
SLOW = [SimulatorConfig(faults=Faults(latency=LATENCY))]


@pytest.mark.parametrize("aicore_simulator_config", SLOW, ids=["latency"])
async def test_meta_count_and_the_first_page_take_one_round_trip(
    make_client, aicore_simulator, aicore_clock
):
    """With many items, reading every status takes one round trip after the token, not three."""
    ids = aicore_simulator.seed("executions", 300, statuses={"DEAD": 1})
    async with make_client() as client:
        started = aicore_clock.monotonic()
        plan = await client.plan("executions", ids)
        took = aicore_clock.monotonic() - started

    assert took == pytest.approx(LATENCY, abs=0.1)  # meta, $count, list: 3 round trips before
    assert plan.reads == 3
    assert dict(aicore_simulator.statistics().requests) == {
        "token": 1,
        "meta": 1,
        "count": 1,
        "list": 1,
    }


@pytest.mark.parametrize("aicore_simulator_config", SLOW, ids=["latency"])
async def test_with_few_items_the_count_decides_before_anything_is_listed(
    make_client, aicore_simulator, aicore_clock
):
    """With a few items, meta and ``$count`` go together; the reads wait for the count."""
    ids = aicore_simulator.seed("executions", 5, statuses={"DEAD": 1})
    aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})
    async with make_client(run_options={"page_size": 100}) as client:
        started = aicore_clock.monotonic()
        plan = await client.plan("executions", ids)
        took = aicore_clock.monotonic() - started

    assert took == pytest.approx(2 * LATENCY, abs=0.1)
    requests = aicore_simulator.statistics().requests
    assert (requests["meta"], requests["count"], requests["get"]) == (1, 1, 5)
    assert "list" not in requests
    assert {item.path for item in plan.items} == {Route.DELETE}


async def test_a_first_page_the_count_makes_useless_is_dropped(make_client, aicore_simulator):
    """When ``$count`` shows single reads cost less, the prefetched page is dropped, unused."""
    ids = aicore_simulator.seed("executions", 150, statuses={"DEAD": 1})
    aicore_simulator.seed("executions", 2_000, statuses={"COMPLETED": 1})
    async with make_client(run_options={"page_size": 10}) as client:
        report = await client.delete("executions", ids)

    assert {item.outcome for item in report} == {Outcome.DELETED}
    requests = aicore_simulator.statistics().requests
    assert (requests["list"], requests["get"]) == (1, 150)  # 215 pages would cost more


def service(*, meta=200, count=b"150", counting=200, lists=200, gets=200):
    """A service whose answers to meta, ``$count``, lists and single reads are set."""
    sent = []

    async def answer(request):
        url = request.url.split("?")[0]
        if url.endswith("/oauth/token"):
            return Response(200, {}, b'{"access_token": "t", "expires_in": 3600}')
        sent.append(url.rsplit("/", 1)[-1])
        if url.endswith("/lm/meta"):
            body = {"aiApi": {"capabilities": {"bulkUpdates": {"executions": True}}}}
            return Response(meta, {}, json.dumps(body).encode())
        if url.endswith("/$count"):
            return Response(counting, {}, count)
        if url.endswith("/lm/executions"):
            return Response(lists, {}, json.dumps({"resources": []}).encode())
        item_id = url.rsplit("/", 1)[-1]
        return Response(gets, {}, json.dumps({"id": item_id, "status": "DEAD"}).encode())

    return answer, sent


def client_of(answer, **settings):
    return BulkClient(
        base_url="https://api.example.com",
        resource_group="g",
        auth_url="https://auth.example.com",
        client_id="c",
        client_secret="s",
        transport=MockTransport(answer),
        clock=VirtualClock(),
        retry=RetryPolicy(attempts=1),
        **settings,
    )


IDS = [f"exec-{i:04d}" for i in range(150)]


async def test_a_refused_meta_is_the_error_even_when_the_list_fails_too():
    """Meta's 403 is raised, as when meta went first, whatever the list met meanwhile."""
    answer, _ = service(meta=403, lists=500)
    async with client_of(answer) as client:
        with pytest.raises(ServiceError, match="meta"):
            await client.plan("executions", IDS)


async def test_a_failed_count_is_the_error_whatever_the_first_page_met():
    """When ``$count`` fails, the run fails with the count's error, as before."""
    answer, _ = service(counting=503)
    async with client_of(answer) as client:
        with pytest.raises(ServiceError, match="counting executions"):
            await client.plan("executions", IDS)


async def test_a_refused_list_is_the_error_when_the_list_is_used():
    """A 403 on the listing fails the run with the listing's error, as before."""
    answer, sent = service(lists=403)
    async with client_of(answer) as client:
        with pytest.raises(ServiceError, match="listing executions"):
            await client.delete("executions", IDS)
    assert sorted(sent) == ["$count", "executions", "meta"]  # nothing was changed


async def test_a_failed_first_page_is_no_error_when_single_reads_are_used():
    """A prefetched page that failed does not matter when the count picks single reads."""
    answer, sent = service(count=b"10000000", lists=403)
    async with client_of(answer) as client:
        plan = await client.plan("executions", IDS)
    assert plan.reads == 3 + len(IDS)
    assert sent.count("executions") == 1


async def test_bad_credentials_fail_before_meta_count_or_list():
    """A refused token fails the run with nothing else sent, as before."""
    sent = []

    async def refuse(request):
        sent.append(request.url)
        return Response(401, {}, b'{"error": "invalid_client"}')

    events = []
    async with client_of(refuse) as client:
        with pytest.raises(AuthenticationError):
            await client.plan("executions", IDS, listener=events.append)
    assert all("/oauth/token" in url for url in sent)
    assert not [event for event in events if isinstance(event, RequestSent)]
