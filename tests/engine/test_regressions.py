"""Cases a second review found; each once lost an item, hung, or misreported one."""

from __future__ import annotations

import attrs

from aicore_bulk import Outcome


async def test_bulk_switched_off_after_meta_falls_back_for_every_batch(client, aicore_simulator):
    """Batches in flight when the bulk endpoint turns out to be off are all re-sent singly."""
    ids = aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})
    await client.plan("executions", ids[:1])  # meta is read (bulk on) and kept
    aicore_simulator.config = attrs.evolve(aicore_simulator.config, bulk_executions=False)

    report = await client.delete("executions", ids)
    bulk_tries = aicore_simulator.statistics().requests["bulk"]
    more = aicore_simulator.seed("executions", 10, statuses={"DEAD": 1})
    again = await client.delete("executions", more)

    assert report.summary.outcomes[Outcome.DELETED] == 1_000
    assert all(aicore_simulator.state("executions", i).deleted for i in ids)
    assert again.ok
    # The client remembers: the next run goes straight to single calls.
    assert aicore_simulator.statistics().requests["bulk"] == bulk_tries


async def test_a_failing_stopping_list_cannot_hang_the_run(make_client, aicore_simulator):
    """If the STOPPING list keeps failing, the stop wait still runs out and the run ends."""
    aicore_simulator.put("executions", "run-00001", "RUNNING")
    aicore_simulator.store.stop_delay = 10_000.0
    async with make_client(stop_wait=30.0) as client:

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
            item.status, item.deleted_at = "STOPPED", aicore_simulator.clock() - 3600

    report = await client.delete("executions", ["run-00001"], listener=someone_else_deletes)

    (item,) = report
    assert item.outcome is Outcome.ALREADY_ABSENT
