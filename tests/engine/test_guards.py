"""What an operator relies on: serving deployments, deletions already scheduled, last statuses.

Serving deployments are stopped only when asked, items whose deletion is already scheduled are
left alone, and the report keeps the status each item was last seen in.
"""

from __future__ import annotations

import pytest

from aicore_bulk import Outcome, PlanReady, Route, Selection, Status, read_journal
from aicore_bulk._journal import Journal, RunRecord
from aicore_bulk._models import Target
from aicore_bulk.testing import Faults, SimulatorConfig

SERVING = "deployment serves traffic: not stopped without include_running (--include-running)"


def put_deployments(simulator):
    for item_id, status in (("dep-run1", "RUNNING"), ("dep-pend", "PENDING"), ("dep-dead", "DEAD")):
        simulator.put("deployments", item_id, status)
    return ["dep-run1", "dep-pend", "dep-dead"]


def untouched(simulator, item_id):
    return simulator.changes_received("deployments", item_id) == {"stop": 0, "delete": 0}


async def test_serving_deployments_are_skipped_without_include_running(client, aicore_simulator):
    """A delete skips RUNNING and PENDING deployments, naming the flag, and sends them nothing."""
    ids = put_deployments(aicore_simulator)

    report = await client.delete("deployments", ids)

    results = {item.id: item for item in report}
    assert results["dep-run1"].outcome is Outcome.SKIPPED
    assert results["dep-run1"].message == f"a RUNNING {SERVING}"
    assert results["dep-pend"].message == f"a PENDING {SERVING}"
    assert results["dep-dead"].outcome is Outcome.DELETED
    assert untouched(aicore_simulator, "dep-run1")
    assert untouched(aicore_simulator, "dep-pend")
    assert aicore_simulator.state("deployments", "dep-run1").status == "RUNNING"


@pytest.mark.parametrize("run", ["delete", "stop"])
async def test_include_running_stops_serving_deployments(client, aicore_simulator, run):
    """With include_running, RUNNING and PENDING deployments are stopped (and deleted)."""
    ids = put_deployments(aicore_simulator)

    report = await getattr(client, run)("deployments", ids[:2], include_running=True)

    expected = Outcome.DELETED if run == "delete" else Outcome.STOPPED
    assert {item.outcome for item in report} == {expected}
    assert aicore_simulator.statistics().violation_count == 0


async def test_a_stop_run_skips_serving_deployments_but_stops_executions(client, aicore_simulator):
    """Without the flag a stop run skips running deployments; running executions need no flag."""
    aicore_simulator.put("deployments", "dep-run1", "RUNNING")
    aicore_simulator.put("executions", "exe-run1", "RUNNING")

    deployments = await client.stop("deployments", ["dep-run1"])
    executions = await client.stop("executions", ["exe-run1"])

    assert [item.outcome for item in deployments] == [Outcome.SKIPPED]
    assert [item.outcome for item in executions] == [Outcome.STOPPED]


async def test_the_plan_shows_serving_deployments_as_skipped_with_the_reason(
    client, aicore_simulator
):
    """plan() skips serving deployments with the reason, and plans their stop with the flag."""
    ids = put_deployments(aicore_simulator)

    guarded = await client.plan("deployments", ids)
    included = await client.plan("deployments", ids, include_running=True)

    assert {r: n for r, n in guarded.paths.items() if n} == {"skip": 2, "delete": 1}
    assert guarded.items[0].reason == f"a RUNNING {SERVING}"
    assert {r: n for r, n in included.paths.items() if n} == {"stop_then_delete": 2, "delete": 1}
    assert aicore_simulator.statistics().mutating_requests == 0


async def test_selected_serving_deployments_are_skipped_too(client, aicore_simulator):
    """Deployments chosen by a selection are guarded as those listed by ID are."""
    put_deployments(aicore_simulator)

    report = await client.delete(
        "deployments", client.select("deployments", Selection(statuses=(Status.RUNNING,)))
    )

    assert [(item.id, item.outcome) for item in report] == [("dep-run1", Outcome.SKIPPED)]
    assert untouched(aicore_simulator, "dep-run1")


@pytest.mark.parametrize("include_running", [False, True], ids=["guarded", "include-running"])
async def test_a_deployment_running_again_mid_run_is_stopped_only_when_asked(
    client, aicore_simulator, include_running
):
    """A deployment planned for a delete that turns RUNNING is re-read, then skipped or stopped."""
    aicore_simulator.put("deployments", "dep-back", "STOPPED")

    def restart(event):
        # Between the plan and the first change, somebody starts the deployment again.
        if isinstance(event, PlanReady):
            aicore_simulator.store.get("deployments", "default", "dep-back").status = "RUNNING"

    report = await client.delete(
        "deployments", ["dep-back"], listener=restart, include_running=include_running
    )

    (item,) = report
    changes = aicore_simulator.changes_received("deployments", "dep-back")
    if include_running:
        assert item.outcome is Outcome.DELETED
        assert changes == {"stop": 1, "delete": 2}  # the refused delete, then stop and delete
    else:
        assert item.outcome is Outcome.SKIPPED
        assert item.message == f"a RUNNING {SERVING}"
        assert changes == {"stop": 0, "delete": 1}  # only the delete the service refused
        assert aicore_simulator.state("deployments", "dep-back").status == "RUNNING"
    assert aicore_simulator.statistics().violation_count == 0


@pytest.mark.parametrize("include_running", [False, True], ids=["guarded", "include-running"])
async def test_a_resumed_run_keeps_the_journal_s_include_running(
    client, aicore_simulator, tmp_path, include_running
):
    """Resuming a journal stops serving deployments exactly when the original run could."""
    aicore_simulator.put("deployments", "dep-run1", "RUNNING")
    path = tmp_path / "run.journal"
    record = RunRecord(
        kind="deployments",
        target=Target.DELETED,
        resource_group="default",
        base_url=client._connection.base_url,
        duplicates=0,
        plan={"stop_then_delete": 1},
        include_running=include_running,
    )
    Journal.create(path, record, ["dep-run1"], []).close()

    report = await client.resume(path)

    assert read_journal(path).include_running is include_running
    expected = Outcome.DELETED if include_running else Outcome.SKIPPED
    assert [item.outcome for item in report] == [expected]


async def test_a_journal_records_include_running(client, aicore_simulator, tmp_path):
    """A run's include_running is written to its journal."""
    aicore_simulator.put("deployments", "dep-dead", "DEAD")
    path = tmp_path / "run.journal"

    await client.delete("deployments", ["dep-dead"], journal=path, include_running=True)

    assert read_journal(path).include_running is True
    assert Route.SKIP.value not in read_journal(path).plan


async def test_stopped_then_deleted_items_keep_their_last_status_in_the_report(
    client, aicore_simulator, tmp_path
):
    """An item stopped, then deleted, reports the status it was last seen in, not null."""
    aicore_simulator.put("executions", "exe-run1", "RUNNING")
    aicore_simulator.put("executions", "exe-done", "COMPLETED")
    path = tmp_path / "run.journal"

    report = await client.delete("executions", ["exe-run1", "exe-done"], journal=path)

    statuses = {item.id: (item.outcome, item.status) for item in report}
    assert statuses == {
        "exe-run1": (Outcome.DELETED, "STOPPING"),
        "exe-done": (Outcome.DELETED, "COMPLETED"),
    }
    resumed = await client.resume(path)  # every item was final: taken from the journal as is
    assert {item.id: item.status for item in resumed} == {
        "exe-run1": "STOPPING",
        "exe-done": "COMPLETED",
    }


def schedule_deletion(simulator, kind, item_id):
    """Delete an item behind the run's back: it lingers, listed with targetStatus DELETED."""
    assert simulator.store.change(kind, "default", item_id, "delete").refusal is None


@pytest.mark.parametrize("reads", ["listed", "one-by-one"])
async def test_items_whose_deletion_is_scheduled_are_left_alone(
    make_client, aicore_simulator, reads
):
    """Items already being deleted are planned and reported apart, and sent nothing."""
    ids = aicore_simulator.seed("executions", 5, statuses={"COMPLETED": 1})
    if reads == "one-by-one":  # a big tenant: single reads are cheaper than listing it
        aicore_simulator.seed("executions", 6_000, statuses={"DEAD": 1})
    for item_id in ids[:2]:
        schedule_deletion(aicore_simulator, "executions", item_id)

    async with make_client(run_options={"page_size": 1_000}) as client:
        plan = await client.plan("executions", ids)
        report = await client.delete("executions", ids)

    stats = aicore_simulator.statistics()
    assert {r: n for r, n in plan.paths.items() if n} == {"deleting": 2, "delete": 3}
    assert [item.path for item in plan.items[:2]] == [Route.DELETING] * 2
    assert report.ok
    assert [item.outcome for item in report] == [Outcome.ALREADY_DELETING] * 2 + [
        Outcome.DELETED
    ] * 3
    assert report.items[0].message == "its deletion is already scheduled (targetStatus DELETED)"
    assert report.items[0].status == "COMPLETED"
    assert all(
        aicore_simulator.changes_received("executions", i) == {"stop": 0, "delete": 0}
        for i in ids[:2]
    )
    assert stats.requests.get("list", 0) == (0 if reads == "one-by-one" else 2)
    assert report.summary.to_json()["outcomes"]["already_deleting"] == 2


async def test_a_selection_tells_items_whose_deletion_is_scheduled(client, aicore_simulator):
    """A selection lists whole resources, so its items already being deleted are left alone."""
    ids = aicore_simulator.seed("executions", 4, statuses={"DEAD": 1})
    schedule_deletion(aicore_simulator, "executions", ids[0])

    report = await client.delete(
        "executions", client.select("executions", Selection(statuses=(Status.DEAD,)))
    )

    assert {item.id: item.outcome for item in report} == {
        ids[0]: Outcome.ALREADY_DELETING,
        **dict.fromkeys(ids[1:], Outcome.DELETED),
    }
    assert aicore_simulator.changes_received("executions", ids[0]) == {"stop": 0, "delete": 0}


async def test_a_stop_run_reports_items_being_deleted_as_already_deleting(client, aicore_simulator):
    """In a stop run an item whose deletion is scheduled needs nothing: already_deleting, ok."""
    aicore_simulator.put("executions", "exe-unkn", "UNKNOWN")
    schedule_deletion(aicore_simulator, "executions", "exe-unkn")

    report = await client.stop("executions", ["exe-unkn"])

    assert [item.outcome for item in report] == [Outcome.ALREADY_DELETING]
    assert report.ok


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(faults=Faults(truncated_bodies=1.0))],
    ids=["cut-off-answers"],
)
async def test_a_delete_whose_answer_was_lost_is_not_sent_again(client, aicore_simulator):
    """After an unanswered delete, a read that shows the deletion scheduled settles it deleted."""
    ids = aicore_simulator.seed("executions", 20, statuses={"COMPLETED": 1})

    report = await client.delete("executions", ids)

    assert {item.outcome for item in report} == {Outcome.DELETED}
    assert {item.message for item in report} == {"deletion scheduled after our unconfirmed delete"}
    assert all(
        aicore_simulator.changes_received("executions", i) == {"stop": 0, "delete": 1} for i in ids
    )
