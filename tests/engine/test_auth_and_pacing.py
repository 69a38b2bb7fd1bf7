"""Tokens are fetched once and refreshed when refused; a user's rate cap holds."""

from __future__ import annotations

import asyncio
import json

import attrs
import pytest

from aicore_bulk import (
    AiohttpTransport,
    ClientCredentials,
    ItemsFailedError,
    Limits,
    MockTransport,
    Outcome,
    RequestSent,
    Response,
    TransportError,
)
from aicore_bulk._cli._progress import Progress
from aicore_bulk._events import ItemSettled, PlanReady, RequestAnswered
from aicore_bulk._report import ItemResult
from aicore_bulk.testing import VirtualClock


async def test_concurrent_callers_share_one_token_fetch(aicore_server, aicore_simulator):
    """However many requests wait for a token, one fetch serves them all."""
    creds = aicore_server.credentials
    auth = ClientCredentials(
        aicore_server.token_url,
        creds.client_id,
        creds.client_secret,
        clock=aicore_simulator.clock,
    )
    transport = AiohttpTransport()
    try:
        tokens = await asyncio.gather(*(auth.token(transport) for _ in range(50)))
    finally:
        await transport.aclose()

    assert len(set(tokens)) == 1
    assert auth.fetches == 1
    assert aicore_simulator.statistics().requests["token"] == 1


async def test_a_401_refreshes_the_token_once_and_goes_on(client, aicore_simulator):
    """When the API stops accepting the token mid-run, a fresh one is fetched and used."""
    ids = aicore_simulator.seed("executions", 300, statuses={"DEAD": 1})

    revoked = []

    def revoke_after_first_change(event):
        if isinstance(event, RequestSent) and event.operation == "bulk" and not revoked:
            revoked.append(True)
            aicore_simulator._tokens.clear()  # every token issued so far is now unknown

    report = await client.delete("executions", ids, listener=revoke_after_first_change)

    assert report.ok
    assert aicore_simulator.statistics().requests["token"] >= 2


async def test_a_rate_cap_spaces_requests(make_client, aicore_simulator, aicore_clock):
    """With Limits(rate=r), n requests take at least (n - 1) / r seconds."""
    ids = aicore_simulator.seed("executions", 2_000, statuses={"DEAD": 1})
    async with make_client(limits=Limits(concurrency=8, rate=4.0)) as client:
        report = await client.delete("executions", ids)

    assert report.ok
    assert aicore_clock.slept >= (report.summary.requests - 1) / 4.0 - 1e-6


async def test_timeouts_are_reread_resent_then_settled_by_a_final_read():
    """A change that keeps timing out is read again and re-sent a few times, then read once more."""
    from aicore_bulk import BulkClient, RetryPolicy  # noqa: PLC0415

    async def handler(request):
        if request.url.endswith("/oauth/token"):
            return Response(200, {}, b'{"access_token": "t", "expires_in": 3600}')
        if request.url.endswith("/lm/meta"):
            return Response(
                200, {}, b'{"aiApi": {"capabilities": {"bulkUpdates": {"executions": true}}}}'
            )
        if request.url.endswith("/$count"):
            return Response(200, {}, b"1")
        if request.method == "GET" and request.url.endswith("/e-0001"):
            return Response(200, {}, b'{"id": "e-0001", "status": "DEAD"}')
        if request.method == "GET":
            return Response(
                200, {}, b'{"count": 1, "resources": [{"id": "e-0001", "status": "DEAD"}]}'
            )
        raise TransportError("timeout", "no answer within 30 s")

    async with BulkClient(
        base_url="https://api.example.com",
        resource_group="g",
        auth_url="https://auth.example.com",
        client_id="c",
        client_secret="s",
        transport=MockTransport(handler),
        clock=VirtualClock(),
        retry=RetryPolicy(attempts=3),
    ) as client:
        report = await client.delete("executions", ["e-0001"])

    (item,) = report
    # The final read shows it still DEAD: the delete did not happen, so it is not unknown.
    assert item.outcome is Outcome.FAILED
    assert item.message.startswith(
        "not deleted: still DEAD at the final read (no answer within 30 s"
    )
    # The first try and one more after each of the three re-reads; never blindly re-sent.
    assert report.summary.mutating_requests == 4
    assert item.attempts == 4
    with pytest.raises(ItemsFailedError, match="1 of 1 executions did not reach DELETED"):
        report.raise_for_failures()


def test_the_progress_bar_shows_counts_rates_and_eta():
    """On a terminal the bar redraws one line with settled/total, req/s, retries, 429s, ETA."""
    import io  # noqa: PLC0415

    stream = io.StringIO()
    progress = Progress(stream=stream, bar=True, verb="deleting executions")
    progress(PlanReady(kind="executions", target="DELETED", paths={}, total=4, requests=2))
    progress.start()
    progress(RequestAnswered("bulk", 2, 202, 0.5))
    for n in range(2):
        progress(ItemSettled(ItemResult(f"e-000{n}", Outcome.DELETED)))
    progress.close()

    line = progress.line(progress._started + 1.0)
    assert line.startswith("deleting executions 2/4")
    assert "50%" in line
    for part in ("req/s", "retries 0", "429s 0", "ETA 1s"):
        assert part in line
    assert stream.getvalue().startswith("\r")
    assert stream.getvalue().endswith("\n")


async def test_a_token_endpoint_that_dies_mid_run_leaves_a_complete_report(
    client, aicore_simulator
):
    """If tokens stop coming after changes began, the run ends with every item accounted for."""
    ids = aicore_simulator.seed("executions", 300, statuses={"DEAD": 1})
    broken = []

    def break_auth_after_first_change(event):
        if isinstance(event, RequestSent) and event.operation == "bulk" and not broken:
            broken.append(True)
            aicore_simulator._tokens.clear()
            aicore_simulator.config = attrs.evolve(aicore_simulator.config, client_secret="new")

    report = await client.delete("executions", ids, listener=break_auth_after_first_change)

    assert len(report) == 300
    assert any("the run stopped" in (item.message or "") for item in report)
    for item in report:
        deleted = aicore_simulator.state("executions", item.id).deleted
        if item.outcome is Outcome.DELETED:
            assert deleted
        elif item.outcome is Outcome.FAILED:
            assert not deleted


async def test_a_throttled_stop_goes_again_before_the_plans_deletes(
    make_client, aicore_simulator, aicore_clock
):
    """A stop answered 429 is sent again right after the pause, not behind every delete.

    Each stop starts a wait of its own; sent last, it would add that whole wait to the run.
    """
    aicore_simulator.seed("executions", 300, statuses={"RUNNING": 1})
    aicore_simulator.seed("executions", 1_000, statuses={"COMPLETED": 1})
    sent: list[set[str]] = []
    inner = AiohttpTransport()

    class ThrottleSecondChange:
        async def send(self, request):
            if request.method == "PATCH":
                entries = json.loads(request.body)["executions"]
                sent.append({entry["targetStatus"] for entry in entries})
                if len(sent) == 2:
                    return Response(429, {"Retry-After": "1"}, b"")
            return await inner.send(request)

        async def aclose(self):
            await inner.aclose()

    client = make_client(
        limits=Limits(concurrency=1), transport=aicore_clock.track(ThrottleSecondChange())
    )
    async with client:
        report = await client.delete("executions", list(aicore_simulator.states("executions")))

    assert report.ok
    stops = [index for index, targets in enumerate(sent) if "STOPPED" in targets]
    assert len(stops) == 4  # three stop requests, one of them twice
    first_delete_only = next(i for i, targets in enumerate(sent) if targets == {"DELETED"})
    assert max(stops) <= first_delete_only + 1  # at most one delete had already started
