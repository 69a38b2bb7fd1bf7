"""SAP's official Python SDK reads and changes items on the simulator.

The SDK is an independent reading of the AI API: if it can parse what the simulator answers
and the simulator accepts what it sends, both of us are less likely to share a blind spot.
The SDK is synchronous (requests), so each call runs in a worker thread while the simulator
serves from the test's event loop.
"""

from __future__ import annotations

import asyncio

import pytest
from ai_api_client_sdk.ai_api_v2_client import AIAPIV2Client
from ai_api_client_sdk.exception import AIAPINotFoundException, AIAPIPreconditionFailedException
from ai_api_client_sdk.models.base_models import BasicModifyRequest
from ai_api_client_sdk.models.status import Status
from ai_api_client_sdk.models.target_status import TargetStatus


@pytest.fixture
def sdk(aicore_server, monkeypatch):
    # requests honours proxy variables; the simulator is on loopback.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    creds = aicore_server.credentials
    return AIAPIV2Client(
        base_url=f"{aicore_server.base_url}/lm",  # the AI API client wants .../v2/lm
        auth_url=aicore_server.token_url,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        resource_group="default",
        num_request_retries=0,
    )


async def call(func, *args, **kwargs):
    return await asyncio.to_thread(func, *args, **kwargs)


async def test_sdk_reads_meta(sdk):
    """The SDK parses meta, including the bulk capability flags."""
    meta = await call(sdk.meta.get)

    bulk = meta.ai_api.capabilities.bulk_updates
    assert (bulk.executions, bulk.deployments) == (True, True)


@pytest.mark.parametrize("kind", ["execution", "deployment"])
async def test_sdk_lists_counts_and_gets(sdk, aicore_simulator, kind):
    """query, count and get parse every field the simulator renders."""
    ids = aicore_simulator.seed(
        f"{kind}s", 30, statuses={"RUNNING": 1, "DEAD": 1}, schedules=("nightly",)
    )
    client = getattr(sdk, kind)

    everything = await call(client.query)
    page = await call(client.query, top=10, skip=5)
    running = await call(client.query, status=Status.RUNNING)
    count = await call(client.count, status=Status.DEAD)
    one = await call(client.get, ids[0])
    status_only = await call(client.get, ids[0], select="status")

    assert everything.count == 30
    assert [r.id for r in everything.resources] == ids
    assert [r.id for r in page.resources] == ids[5:15]
    assert {r.status for r in running.resources} == {Status.RUNNING}
    assert int(count) == 15
    assert one.id == ids[0]
    assert one.created_at.tzinfo is not None
    assert status_only.status in {Status.RUNNING, Status.DEAD}


@pytest.mark.parametrize("kind", ["execution", "deployment"])
async def test_sdk_stops_and_deletes_one(sdk, aicore_simulator, aicore_clock, kind):
    """Stop (modify) and delete work, and a refused change raises the SDK's 412 exception."""
    aicore_simulator.put(f"{kind}s", "run-0001", "RUNNING")
    aicore_simulator.put(f"{kind}s", "dead-0001", "DEAD")
    client = getattr(sdk, kind)

    stopped = await call(client.modify, "run-0001", TargetStatus.STOPPED)
    with pytest.raises(AIAPIPreconditionFailedException):
        await call(client.delete, "run-0001")  # STOPPING: refused, and a violation
    aicore_clock.advance(aicore_simulator.config.stop_delay)
    now = await call(client.get, "run-0001", select="status")
    deleted = await call(client.delete, "run-0001")
    await call(client.delete, "dead-0001")
    with pytest.raises(AIAPINotFoundException):
        await call(client.delete, "nope-0001")

    assert stopped.id == "run-0001"
    assert now.status == Status.STOPPED
    assert deleted.id == "run-0001"
    assert aicore_simulator.state(f"{kind}s", "dead-0001").deleted
    violations = aicore_simulator.statistics().violations
    assert [v.rule for v in violations] == ["refused-transition"]
    assert "last seen STOPPING" in violations[0].detail


@pytest.mark.parametrize("kind", ["execution", "deployment"])
async def test_sdk_bulk_modify(sdk, aicore_simulator, kind):
    """bulk_modify sends the right body and parses successes and per-item errors."""
    aicore_simulator.put(f"{kind}s", "run-0001", "RUNNING")
    aicore_simulator.put(f"{kind}s", "dead-0001", "DEAD")
    aicore_simulator.put(f"{kind}s", "stop-0001", "STOPPING")
    client = getattr(sdk, kind)

    answer = await call(
        client.bulk_modify,
        [
            BasicModifyRequest("run-0001", TargetStatus.STOPPED),
            BasicModifyRequest("dead-0001", TargetStatus.DELETED),
            BasicModifyRequest("stop-0001", TargetStatus.DELETED),
            BasicModifyRequest("nope-0001", TargetStatus.DELETED),
        ],
    )

    by_id = {entry.id: entry for entry in getattr(answer, f"{kind}s")}
    assert set(by_id) == {"run-0001", "dead-0001", "stop-0001", "nope-0001"}
    assert not hasattr(by_id["run-0001"], "error")
    assert not hasattr(by_id["dead-0001"], "error")
    assert by_id["stop-0001"].error.code == "01010076"
    assert by_id["nope-0001"].error.code == ("01010020" if kind == "execution" else "01010016")
    stats = aicore_simulator.statistics()
    assert stats.bulk_sizes == {4: 1}
    assert stats.violation_count == 0
