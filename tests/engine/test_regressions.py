"""Cases a second review found; each once lost an item, hung, or misreported one."""

from __future__ import annotations

import json

import attrs

from aicore_bulk import AiohttpTransport, Limits, Outcome, Response
from aicore_bulk._models import CODE_STATUS_CONFLICT


async def test_bulk_switched_off_after_meta_falls_back_for_every_batch(
    make_client, aicore_simulator
):
    """Batches in flight when the bulk endpoint turns out to be off are all re-sent singly.

    So are the plan's requests not yet started, which were cut for bulk (two in flight leave
    most of them for after the fall-back).
    """
    ids = aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})
    async with make_client(limits=Limits(concurrency=2)) as client:
        await client.plan("executions", ids[:1])  # meta is read (bulk on) and kept
        aicore_simulator.config = attrs.evolve(aicore_simulator.config, bulk_executions=False)

        report = await client.delete("executions", ids)
        bulk_tries = aicore_simulator.statistics().requests["bulk"]
        singles = aicore_simulator.statistics().requests["delete"]
        more = aicore_simulator.seed("executions", 10, statuses={"DEAD": 1})
        again = await client.delete("executions", more)

    assert report.summary.outcomes[Outcome.DELETED] == 1_000
    assert all(aicore_simulator.state("executions", i).deleted for i in ids)
    # Every item went out once, singly: none was taken for sent in a cut-for-bulk request.
    assert singles == 1_000
    assert {item.attempts for item in report} == {1}
    assert again.ok
    # The client remembers: the next run goes straight to single calls.
    assert aicore_simulator.statistics().requests["bulk"] == bulk_tries


async def test_a_failing_stopping_list_cannot_hang_the_run(make_client, aicore_simulator):
    """If the STOPPING list keeps failing, the stop wait still runs out and the run ends."""
    aicore_simulator.put("executions", "run-00001", "RUNNING")
    aicore_simulator.store.stop_delay = 10_000.0
    async with make_client(run_options={"stop_wait": 30.0}) as client:

        def break_lists(event):
            if getattr(event, "operation", None) == "bulk" and getattr(event, "status", 0) == 202:
                aicore_simulator.set_faults(
                    attrs.evolve(aicore_simulator.config.faults, server_errors=1.0)
                )

        report = await client.delete("executions", ["run-00001"], listener=break_lists)

    (item,) = report
    assert item.outcome is Outcome.FAILED
    assert "still STOPPING after 30 s" in item.message


async def test_a_clean_not_found_after_an_unsure_stop_is_already_absent(client, aicore_simulator):
    """Doubt about our stop does not make someone else's delete ours."""
    aicore_simulator.put("executions", "run-00001", "RUNNING")
    aicore_simulator.set_faults(attrs.evolve(aicore_simulator.config.faults, truncated_bodies=1.0))

    def someone_else_deletes(event):
        if getattr(event, "operation", None) == "bulk" and getattr(event, "status", 0) == 202:
            aicore_simulator.set_faults(
                attrs.evolve(aicore_simulator.config.faults, truncated_bodies=0.0)
            )
            item = aicore_simulator.store.get("executions", "default", "run-00001")
            item.status, item.deleted_at = "STOPPED", aicore_simulator.clock.time() - 3600

    report = await client.delete("executions", ["run-00001"], listener=someone_else_deletes)

    (item,) = report
    assert item.outcome is Outcome.ALREADY_ABSENT


async def test_stops_re_planned_after_a_re_read_share_one_request(
    make_client, aicore_simulator, aicore_clock
):
    """100 stops answered "cannot be changed", still RUNNING when read again, go out together.

    (Re-planned one by one, each once went out in a request of its own: 100 requests.)
    """
    ids = aicore_simulator.seed("executions", 100, statuses={"RUNNING": 1})
    sizes: list[int] = []
    inner = AiohttpTransport()

    class RefuseFirstChange:
        async def send(self, request):
            if request.method == "PATCH":
                entries = json.loads(request.body)["executions"]
                sizes.append(len(entries))
                if len(sizes) == 1:  # the service says each item is moving
                    error = {"code": CODE_STATUS_CONFLICT, "message": "cannot be changed"}
                    body = {"executions": [{"id": e["id"], "error": error} for e in entries]}
                    return Response(202, {}, json.dumps(body).encode())
            return await inner.send(request)

        async def aclose(self):
            await inner.aclose()

    client = make_client(transport=aicore_clock.track(RefuseFirstChange()))
    async with client:
        report = await client.stop("executions", ids)

    assert report.summary.outcomes[Outcome.STOPPED] == 100
    assert sizes == [100, 100]
