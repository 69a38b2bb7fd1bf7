"""Whole cleanups against the simulator: every ID settles once, with the right outcome."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from aicore_bulk import InputError, Limits, Outcome, PlanReady, Route, Selection, Status
from aicore_bulk.testing import SimulatorConfig

EVERY_STATUS = dict.fromkeys(
    ("PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN"), 1
)


def expected_delete_requests(statuses):
    counts = Counter(statuses)
    now = (
        counts["COMPLETED"]
        + counts["DEAD"]
        + counts["STOPPED"]
        + counts["UNKNOWN"]
        + counts["RUNNING"]
        + counts["PENDING"]
    )
    later = counts["RUNNING"] + counts["PENDING"] + counts["STOPPING"]
    return math.ceil(now / 100) + math.ceil(later / 100)


async def test_mixed_delete_across_two_resource_groups(client, aicore_simulator):
    """10,000 executions in every status are deleted with the documented minimum of requests.

    Duplicates and unknown IDs are reported once, the other group is untouched, and the
    simulator records no contract violation.
    """
    ids = aicore_simulator.seed("executions", 10_000, statuses=EVERY_STATUS)
    other = aicore_simulator.seed("executions", 500, resource_group="other", statuses=EVERY_STATUS)
    before = {i: s.status for i, s in aicore_simulator.states("executions").items()}
    unknown = [f"missing-{n:04d}" for n in range(25)]
    requested = ids + ids[:300] + unknown + other[:10]

    report = await client.delete("executions", requested)

    results = {item.id: item for item in report}
    assert len(report) == len(results) == 10_000 + 25 + 10
    assert report.summary.duplicates == 300
    assert all(results[i].outcome is Outcome.DELETED for i in ids)
    assert all(results[i].outcome is Outcome.ALREADY_ABSENT for i in unknown + other[:10])
    assert all(aicore_simulator.state("executions", i).deleted for i in ids)
    assert not any(s.deleted for s in aicore_simulator.states("executions", "other").values())
    stats = aicore_simulator.statistics()
    assert stats.violation_count == 0, stats.violations[:5]
    assert max(stats.bulk_sizes) <= 100
    assert stats.mutating_requests == expected_delete_requests(before.values())
    assert report.summary.mutating_requests == stats.mutating_requests
    assert report.ok


async def test_stop_reports_each_status_as_the_contract_says(client, aicore_simulator):
    """Stop: running items are stopped, finished ones unchanged, UNKNOWN skipped."""
    for status in EVERY_STATUS:
        aicore_simulator.put("executions", f"x-{status.lower()}", status)

    report = await client.stop("executions", [f"x-{s.lower()}" for s in EVERY_STATUS] + ["x-gone"])

    outcomes = {item.id: item.outcome for item in report}
    assert outcomes == {
        "x-pending": Outcome.STOPPED,
        "x-running": Outcome.STOPPED,
        "x-completed": Outcome.UNCHANGED,
        "x-dead": Outcome.UNCHANGED,
        "x-stopping": Outcome.UNCHANGED,
        "x-stopped": Outcome.UNCHANGED,
        "x-unknown": Outcome.SKIPPED,
        "x-gone": Outcome.ALREADY_ABSENT,
    }
    assert aicore_simulator.state("executions", "x-running").status == "STOPPING"
    stats = aicore_simulator.statistics()
    assert stats.mutating_requests == 1
    assert stats.violation_count == 0


async def test_deployments_never_complete_so_completed_is_not_deletable(client, aicore_simulator):
    """Deleting deployments follows their own table: running ones are stopped first when asked."""
    aicore_simulator.put("deployments", "dep-run1", "RUNNING")
    aicore_simulator.put("deployments", "dep-dead", "DEAD")

    report = await client.delete("deployments", ["dep-run1", "dep-dead"], include_running=True)

    assert {i.id: i.outcome for i in report} == {
        "dep-run1": Outcome.DELETED,
        "dep-dead": Outcome.DELETED,
    }
    assert aicore_simulator.statistics().violation_count == 0


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(bulk_executions=False)],
    ids=["bulk-off"],
)
async def test_falls_back_to_single_calls_when_bulk_is_off(client, aicore_simulator):
    """With bulk updates off in meta, every change is a single PATCH or DELETE."""
    ids = aicore_simulator.seed("executions", 30, statuses={"RUNNING": 1, "DEAD": 2})

    report = await client.delete("executions", ids)

    stats = aicore_simulator.statistics()
    assert report.ok
    assert all(aicore_simulator.state("executions", i).deleted for i in ids)
    assert stats.requests.get("bulk", 0) == 0
    assert stats.requests["stop"] == 10
    assert stats.requests["delete"] == 30
    assert stats.requests["meta"] == 1
    assert stats.violation_count == 0


async def test_meta_is_read_once_per_client(client, aicore_simulator):
    """Two runs on one client read meta once."""
    aicore_simulator.seed("executions", 5, statuses={"DEAD": 1})
    await client.plan("executions", ["a-0001"])
    await client.delete("executions", ["a-0001"])

    assert aicore_simulator.statistics().requests["meta"] == 1


async def test_dry_run_sends_no_change(client, aicore_simulator):
    """plan() reads statuses and says what would happen, with zero mutating requests."""
    for status in EVERY_STATUS:
        aicore_simulator.put("executions", f"x-{status.lower()}", status)

    plan = await client.plan("executions", [f"x-{s.lower()}" for s in EVERY_STATUS] + ["x-gone"])

    assert dict(plan.paths) == {
        Route.STOP_THEN_DELETE: 2,
        Route.WAIT_THEN_DELETE: 1,
        Route.DELETE: 4,
        Route.ABSENT: 1,
        Route.STOP: 0,
        Route.UNCHANGED: 0,
        Route.SKIP: 0,
        Route.DELETING: 0,
    }
    assert plan.requests == 2
    assert aicore_simulator.statistics().mutating_requests == 0
    assert {i.id: i.path.value for i in plan.items}["x-running"] == "stop_then_delete"


async def test_plan_paths_count_every_route_as_summary_outcomes_count_every_outcome(
    client, aicore_simulator
):
    """Plan.paths maps every Route to its count (zeros too), read-only; its JSON keeps names."""
    aicore_simulator.put("executions", "x-dead", "DEAD")
    aicore_simulator.put("executions", "x-running", "RUNNING")
    events = []

    plan = await client.plan("executions", ["x-dead", "x-running"], listener=events.append)

    assert list(plan.paths) == list(Route)
    assert plan.paths[Route.DELETE] == plan.paths[Route.STOP_THEN_DELETE] == 1
    assert plan.paths[Route.SKIP] == 0
    with pytest.raises(TypeError):
        plan.paths[Route.SKIP] = 5  # type: ignore[index]
    (ready,) = (event for event in events if isinstance(event, PlanReady))
    assert dict(ready.paths) == dict(plan.paths)
    assert plan.to_json()["summary"]["paths"] == {route.value: plan.paths[route] for route in Route}
    assert all(type(name) is str for name in plan.to_json()["summary"]["paths"])


async def test_item_statuses_are_status_members_and_plain_text_in_json(client, aicore_simulator):
    """Report and plan items hold Status members (or None); their JSON holds the plain text."""
    aicore_simulator.put("executions", "x-dead", "DEAD")

    plan = await client.plan("executions", ["x-dead", "x-gone"])
    report = await client.delete("executions", ["x-dead", "x-gone"])

    for items, data in ((plan.items, plan.to_json()), (report.items, report.to_json())):
        assert [item.status for item in items] == [Status.DEAD, None]
        assert type(items[0].status) is Status
        assert [entry["status"] for entry in data["items"]] == ["DEAD", None]
        assert type(data["items"][0]["status"]) is str


async def test_few_ids_in_a_big_tenant_are_read_one_by_one(make_client, aicore_simulator):
    """When the tenant is larger than the IDs need, single reads beat listing it all."""
    ids = aicore_simulator.seed("executions", 3_000, statuses={"DEAD": 1})
    async with make_client(run_options={"page_size": 1_000}) as client:
        report = await client.delete("executions", ids[:2])

    stats = aicore_simulator.statistics()
    assert report.ok
    assert stats.requests.get("list", 0) == 0
    assert stats.requests["get"] == 2


async def test_async_iterables_of_ids_stream_in(client, aicore_simulator):
    """IDs may come from an async iterable."""
    ids = aicore_simulator.seed("executions", 50, statuses={"COMPLETED": 1})

    async def stream():
        for item_id in ids:
            yield item_id

    report = await client.delete("executions", stream())

    assert [i.id for i in report] == ids
    assert report.ok


async def test_a_selection_brings_its_statuses_so_the_group_is_listed_once(
    make_client, aicore_simulator
):
    """A selection given whole to its client is not listed again; its statuses plan the run."""
    ids = aicore_simulator.seed("executions", 2_500, statuses={"COMPLETED": 3, "DEAD": 1})
    async with make_client(run_options={"page_size": 1_000}) as client:
        report = await client.delete("executions", client.select("executions", Selection()))

    stats = aicore_simulator.statistics()
    assert sorted(item.id for item in report) == sorted(ids)
    assert report.summary.outcomes[Outcome.DELETED] == len(ids)
    assert stats.requests["list"] == 3  # the selection's three pages, and nothing more
    assert stats.mutating_requests == 25


async def test_running_items_of_a_selection_are_stopped_first(make_client, aicore_simulator):
    """Statuses from the selection route running items through a stop, as read ones do."""
    ids = aicore_simulator.seed("executions", 500, statuses={"COMPLETED": 4, "RUNNING": 1})
    before = [aicore_simulator.state("executions", i).status for i in ids]
    async with make_client(run_options={"page_size": 1_000}) as client:
        report = await client.delete("executions", client.select("executions", Selection()))

    stats = aicore_simulator.statistics()
    assert report.summary.outcomes[Outcome.DELETED] == len(ids)
    assert stats.mutating_requests == expected_delete_requests(before)
    assert stats.refused == 0
    assert stats.violation_count == 0


async def test_a_selection_from_another_client_is_read_again(make_client, aicore_simulator):
    """Statuses listed by another client (maybe another resource group) are not trusted."""
    ids = aicore_simulator.seed("executions", 300, statuses={"DEAD": 1})
    async with (
        make_client(run_options={"page_size": 1_000}) as lister,
        make_client(run_options={"page_size": 1_000}) as cleaner,
    ):
        report = await cleaner.delete("executions", lister.select("executions", Selection()))

    assert report.ok
    assert len(report) == len(ids)
    assert aicore_simulator.statistics().requests["list"] == 2  # the selection, then the run


async def test_a_selection_partly_taken_is_read_again(client, aicore_simulator):
    """Once some IDs were taken one by one, the rest is an ordinary stream of IDs."""
    ids = aicore_simulator.seed("executions", 30, statuses={"STOPPED": 1})
    selected = client.select("executions", Selection())
    first = await anext(selected)

    report = await client.delete("executions", selected)

    assert first in ids
    assert sorted(item.id for item in report) == sorted(set(ids) - {first})
    assert report.ok


async def test_stop_wait_has_a_deadline(make_client, aicore_simulator):
    """Items stuck in STOPPING are reported failed at the deadline; the others do not wait."""
    aicore_simulator.put("executions", "stuck-001", "RUNNING")
    aicore_simulator.put("executions", "done-0001", "COMPLETED")
    aicore_simulator.store.get("executions", "default", "stuck-001")  # settle now
    aicore_simulator.store.stop_delay = 10_000.0
    async with make_client(run_options={"stop_wait": 30.0}) as client:
        report = await client.delete("executions", ["stuck-001", "done-0001"])

    results = {i.id: i for i in report}
    assert results["done-0001"].outcome is Outcome.DELETED
    assert results["stuck-001"].outcome is Outcome.FAILED
    assert "still STOPPING after 30 s" in results["stuck-001"].message
    assert aicore_simulator.state("executions", "stuck-001").status == "STOPPING"


async def test_report_json_form(client, aicore_simulator):
    """The report's JSON has the documented summary and one entry per distinct ID."""
    aicore_simulator.put("executions", "done-0001", "COMPLETED")

    report = await client.delete("executions", ["done-0001", "done-0001", "nope-0001"])
    data = report.to_json()

    assert data["summary"]["total"] == 2
    assert data["summary"]["outcomes"]["deleted"] == 1
    assert data["summary"]["outcomes"]["already_absent"] == 1
    assert data["summary"]["duplicates"] == 1
    assert data["summary"]["ok"] is True
    assert [i["id"] for i in data["items"]] == ["done-0001", "nope-0001"]
    assert set(data["items"][0]) >= {"id", "outcome", "code", "message", "attempts"}


async def test_requests_are_started_only_a_little_ahead_of_the_concurrency(
    make_client, aicore_simulator
):
    """20,000 items at concurrency 2: not 200 request tasks waiting at once, but a handful."""
    ids = aicore_simulator.seed("executions", 20_000, statuses={"COMPLETED": 1})
    tasks_alive: list[int] = []

    def count_tasks(event) -> None:
        if getattr(event, "operation", None) == "bulk" and hasattr(event, "attempt"):
            tasks_alive.append(len(asyncio.all_tasks()))

    async with make_client(limits=Limits(concurrency=2)) as client:
        report = await client.delete("executions", ids, listener=count_tasks)

    assert report.ok
    assert len(tasks_alive) == 200
    assert max(tasks_alive) < 30  # the run's 4 requests ahead, plus the server's own tasks


async def test_a_selection_used_by_a_run_cannot_feed_another(client, aicore_simulator):
    """A second run on the same selection would have no items: it is refused, not silent."""
    aicore_simulator.seed("executions", 20, statuses={"DEAD": 1})
    selected = client.select("executions", Selection())
    plan = await client.plan("executions", selected)

    with pytest.raises(InputError, match="already used by a run"):
        await client.delete("executions", selected)
    assert sum(plan.paths.values()) == 20
    assert aicore_simulator.statistics().mutating_requests == 0
