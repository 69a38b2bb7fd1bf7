"""Retention against the simulator: the N newest per key are left alone, the rest are changed."""

from __future__ import annotations

import math
from collections import defaultdict

from aicore_bulk import KeptItem, Outcome, Selection, Status

PER_ATTRIBUTE = {
    "configuration": "configuration_id",
    "scenario": "scenario_id",
    "executable": "executable_id",
}


def newest(simulator, kind, keep, per, *, statuses=None):
    """The IDs retention must keep, from the simulator's ground truth (as the wire rounds it)."""
    by_key = defaultdict(list)
    for item in simulator.store.scan(kind, "default"):
        if statuses is None or item.status in statuses:
            # The service writes createdAt to the second.
            by_key[getattr(item, PER_ATTRIBUTE[per])].append((math.floor(item.created_at), item.id))
    return {item_id for ranked in by_key.values() for _, item_id in sorted(ranked)[-keep:]}


def put_history(simulator, clock, *, status="DEAD"):
    """Five executions of each of three configurations, an hour apart; returns them by config."""
    ids = {}
    for config in ("cfg-a", "cfg-b", "cfg-c"):
        ids[config] = [f"{config}-run{n}" for n in range(5)]
        for n, item_id in enumerate(ids[config]):
            simulator.put(
                "executions",
                item_id,
                status,
                configuration_id=config,
                created_at=clock.time() - 3600.0 * (10 - n),  # run4 is the newest
            )
    return ids


async def test_a_delete_keeping_two_leaves_exactly_the_two_newest_of_each_configuration(
    client, aicore_simulator, aicore_clock
):
    """keep_latest=2 deletes every execution but the two newest of each configuration."""
    ids = put_history(aicore_simulator, aicore_clock)
    selected = client.select("executions", Selection(keep_latest=2))

    report = await client.delete("executions", selected)

    left = set(aicore_simulator.states("executions"))
    live = {i for i in left if not aicore_simulator.state("executions", i).deleted}
    assert live == {i for runs in ids.values() for i in runs[3:]}
    assert {item.id for item in report} == {i for runs in ids.values() for i in runs[:3]}
    assert report.summary.outcomes[Outcome.DELETED] == 9
    assert report.summary.kept == 6
    assert report.ok  # kept items are no failures: they are not in the report at all
    assert [item.id for item in selected.kept] == [
        "cfg-a-run4",
        "cfg-a-run3",
        "cfg-b-run4",
        "cfg-b-run3",
        "cfg-c-run4",
        "cfg-c-run3",
    ]
    stats = aicore_simulator.statistics()
    assert stats.violation_count == 0
    assert stats.mutating_requests == 1  # nine deletes fit one bulk request


async def test_the_plan_shows_each_kept_item_and_why(client, aicore_simulator, aicore_clock):
    """A dry run lists the kept items with their reasons, apart from the items it would change."""
    put_history(aicore_simulator, aicore_clock)

    plan = await client.plan("executions", client.select("executions", Selection(keep_latest=1)))

    assert plan.kept == (
        KeptItem("cfg-a-run4", Status.DEAD, "the newest of configuration cfg-a"),
        KeptItem("cfg-b-run4", Status.DEAD, "the newest of configuration cfg-b"),
        KeptItem("cfg-c-run4", Status.DEAD, "the newest of configuration cfg-c"),
    )
    assert len(plan.items) == 12
    assert not {item.id for item in plan.items} & {item.id for item in plan.kept}
    assert plan.to_json()["summary"]["kept"] == 3
    assert plan.to_json()["kept"][0] == {
        "id": "cfg-a-run4",
        "status": "DEAD",
        "reason": "the newest of configuration cfg-a",
    }
    assert "3 kept" in repr(plan)


async def test_retention_ranks_only_what_the_other_filters_select(
    client, aicore_simulator, aicore_clock
):
    """With a status filter, the newest of the matching items are kept; others are untouched."""
    put_history(aicore_simulator, aicore_clock)
    # The newest of cfg-a is running: it is not DEAD, so the two newest DEAD ones are kept.
    aicore_simulator.put(
        "executions",
        "cfg-a-run5",
        "RUNNING",
        configuration_id="cfg-a",
        created_at=aicore_clock.time(),
    )

    report = await client.delete(
        "executions", client.select("executions", Selection(statuses="DEAD", keep_latest=2))
    )

    assert aicore_simulator.state("executions", "cfg-a-run5").status == "RUNNING"
    for config in ("cfg-a", "cfg-b", "cfg-c"):
        for n in (3, 4):
            assert not aicore_simulator.state("executions", f"{config}-run{n}").deleted
    assert report.summary.outcomes[Outcome.DELETED] == 9
    assert report.summary.kept == 6


async def test_retention_per_scenario_and_per_executable_over_many_pages(
    make_client, aicore_simulator
):
    """Seeded items of several scenarios and executables keep the newest N of each, page by page."""
    aicore_simulator.seed(
        "executions",
        600,
        statuses={"COMPLETED": 1},
        scenarios=("sc-one", "sc-two", "sc-three"),
        executables=("exe-a", "exe-b"),
    )
    async with make_client(run_options={"page_size": 100}) as client:
        for keep, per in ((7, "scenario"), (3, "executable")):
            expected = newest(aicore_simulator, "executions", keep, per)
            selection = Selection(keep_latest=keep, keep_latest_per=per)
            plan = await client.plan("executions", client.select("executions", selection))

            assert {item.id for item in plan.kept} == expected
            assert len(plan.items) + len(plan.kept) == 600


async def test_deployments_keep_their_newest_per_configuration_too(
    client, aicore_simulator, aicore_clock
):
    """keep_latest applies to deployments as to executions: each has createdAt and its keys."""
    for n in range(4):
        for config in ("cfg-a", "cfg-b"):
            aicore_simulator.put(
                "deployments",
                f"d-{config}-{n}",
                "STOPPED",
                configuration_id=config,
                created_at=aicore_clock.time() - 60.0 * (4 - n),
            )

    report = await client.delete(
        "deployments", client.select("deployments", Selection(keep_latest=1))
    )

    live = {
        item_id
        for item_id, state in aicore_simulator.states("deployments").items()
        if not state.deleted
    }
    assert live == {"d-cfg-a-3", "d-cfg-b-3"}
    assert report.summary.outcomes[Outcome.DELETED] == 6
    assert report.summary.kept == 2
