"""Runs across resource groups: one limit for all, fair between groups, one report and journal.

The simulator keeps each group apart by its ``AI-Resource-Group`` header, as the service does.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import anyio
import attrs
import pytest

from aicore_bulk import (
    AdminScopeError,
    AiohttpTransport,
    ClientCredentials,
    GroupSelection,
    InputError,
    ItemSettled,
    Limits,
    Outcome,
    PlanReady,
    ResourceGroups,
    RetryPolicy,
    Route,
    RunDeclinedError,
    Selection,
    read_journal,
)
from aicore_bulk._api import list_resource_groups
from aicore_bulk._caller import Caller
from aicore_bulk._memory import LimitsMemory
from aicore_bulk._rate import Pacer
from aicore_bulk._retry import RetryBudget
from aicore_bulk._window import Window
from aicore_bulk.testing import Faults, SimulatorConfig

DEAD_AND_RUNNING = {"DEAD": 1, "RUNNING": 1}
GROUPS = ("ml-train", "ml-serve", "web")


def seed_groups(simulator, sizes: dict[str, int]) -> dict[str, list[str]]:
    """Half DEAD, half RUNNING executions in each group; the DEAD IDs by group."""
    dead = {}
    for group, size in sizes.items():
        simulator.seed("executions", size, statuses=DEAD_AND_RUNNING, resource_group=group)
        dead[group] = [
            item_id
            for item_id, state in simulator.states("executions", group).items()
            if state.status == "DEAD"
        ]
    return dead


def dead_selection(client, *groups: str) -> GroupSelection:
    return client.select(
        "executions", Selection(statuses="DEAD"), resource_groups=ResourceGroups(names=groups)
    )


async def test_a_run_across_groups_deletes_what_the_selection_takes_in_each(
    client, aicore_simulator
):
    """Every group's DEAD executions are deleted, its RUNNING ones untouched, in one report."""
    dead = seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 150))

    report = await client.delete("executions", dead_selection(client, *GROUPS))

    assert report.ok
    assert {(item.resource_group, item.id) for item in report.items} == {
        (group, item_id) for group, ids in dead.items() for item_id in ids
    }
    assert all(item.outcome is Outcome.DELETED for item in report.items)
    for group in GROUPS:
        states = aicore_simulator.states("executions", group)
        assert {s.status for s in states.values() if not s.deleted} == {"RUNNING"}
    statistics = aicore_simulator.statistics()
    assert statistics.violation_count == 0
    # 75 DEAD per group: one bulk request each, the fewest there can be.
    assert statistics.requests["bulk"] == len(GROUPS)


async def test_the_report_has_a_summary_per_group_and_in_total(client, aicore_simulator):
    """``report.groups`` counts each group's items and requests; ``summary`` adds them up."""
    seed_groups(aicore_simulator, {"ml-train": 40, "web": 300})

    report = await client.delete("executions", dead_selection(client, "ml-train", "web"))

    groups = report.groups
    assert list(groups) == ["ml-train", "web"]
    assert groups["ml-train"].outcomes[Outcome.DELETED] == 20
    assert groups["web"].outcomes[Outcome.DELETED] == 150
    assert groups["web"].mutating_requests == 2
    assert report.summary.total == 170
    assert report.summary.mutating_requests == 3
    # The total also counts what belongs to no group (the token aside): /lm/meta.
    assert report.summary.requests == sum(s.requests for s in groups.values()) + 1
    assert report.run is not None
    assert report.run.resource_groups == ("ml-train", "web")
    data = report.to_json()
    assert set(data["groups"]) == {"ml-train", "web"}
    assert {item["resource_group"] for item in data["items"]} == {"ml-train", "web"}


async def test_a_run_in_one_group_names_it_in_the_new_fields(client, aicore_simulator):
    """A run of the client's own group fills ``resource_group`` and ``groups`` with it."""
    ids = aicore_simulator.seed("executions", 5, statuses={"DEAD": 1})

    report = await client.delete("executions", ids)

    assert {item.resource_group for item in report.items} == {"default"}
    assert list(report.groups) == ["default"]
    assert report.groups["default"] == report.summary


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(bulk_executions=False, faults=Faults(latency=0.05))],
)
async def test_every_group_shares_one_concurrency_window(make_client, aicore_simulator):
    """With single calls in three groups, no more requests are in flight than the one limit."""
    seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 60))

    async with make_client(limits=Limits(concurrency=4)) as client:
        report = await client.delete("executions", dead_selection(client, *GROUPS))

    assert report.summary.outcomes[Outcome.DELETED] == 90
    statistics = aicore_simulator.statistics()
    assert statistics.peak_in_flight == 4
    assert statistics.violation_count == 0


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(bulk_executions=False, faults=Faults(latency=0.05))],
)
async def test_a_small_group_finishes_early_while_a_big_one_runs(make_client, aicore_simulator):
    """The window is shared fairly: a small group's items do not wait for a big group's."""
    seed_groups(aicore_simulator, {"big": 800, "small": 20})
    settled_while_big_ran = {"small": 0, "big": 0}

    def listen(event) -> None:
        if isinstance(event, ItemSettled) and settled_while_big_ran["big"] < 100:
            settled_while_big_ran[event.result.resource_group] += 1

    async with make_client(limits=Limits(concurrency=4)) as client:
        report = await client.delete(
            "executions", dead_selection(client, "big", "small"), listener=listen
        )

    assert report.ok
    # Before a quarter of the big group had settled, the small group was done.
    assert settled_while_big_ran["small"] == 10
    assert report.groups["small"].seconds < report.groups["big"].seconds / 4


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(bulk_executions=False, faults=Faults(rate_limit=20, rate_burst=4))],
)
async def test_throttling_across_groups_is_like_throttling_in_one(make_client, aicore_simulator):
    """One pacer for all groups: three groups draw about the share of 429s one group does."""
    seed_groups(aicore_simulator, {"solo": 240, **dict.fromkeys(GROUPS, 80)})

    async with make_client(limits=Limits(concurrency=8)) as client:
        one = await client.delete("executions", dead_selection(client, "solo"))
        three = await client.delete("executions", dead_selection(client, *GROUPS))

    assert one.ok
    assert three.ok
    share_one = one.summary.throttled / one.summary.requests
    share_three = three.summary.throttled / three.summary.requests
    assert share_one > 0  # the limit did bite
    # Three windows and pacers of their own would draw well over twice the share (measured:
    # 0.17 against 0.075); the shared one draws about the same (0.04).
    assert share_three < 1.5 * share_one + 0.02


async def test_the_plan_shows_each_group_and_the_total(client, aicore_simulator):
    """A dry run across groups has a plan per group; the total adds them up."""
    seed_groups(aicore_simulator, {"ml-train": 20, "web": 30})
    selection = client.select(
        "executions", Selection(), resource_groups=ResourceGroups(names=("ml-train", "web"))
    )

    plan = await client.plan("executions", selection)

    assert set(plan.groups) == {"ml-train", "web"}
    assert plan.groups["ml-train"].paths[Route.DELETE] == 10
    assert plan.groups["ml-train"].paths[Route.STOP_THEN_DELETE] == 10
    assert plan.groups["web"].paths[Route.DELETE] == 15
    assert plan.paths[Route.DELETE] == 25
    assert plan.paths[Route.STOP_THEN_DELETE] == 25
    assert len(plan.items) == 50
    assert plan.requests == sum(p.requests for p in plan.groups.values())
    assert {i.resource_group for i in plan.items} == {"ml-train", "web"}
    assert aicore_simulator.statistics().mutating_requests == 0


async def test_the_confirmation_sees_the_total_of_every_group(client, aicore_simulator):
    """One confirmation for the whole run; declining it changes nothing in any group."""
    seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 10))
    seen = []

    def confirm(plan) -> bool:
        seen.append(plan)
        return False

    with pytest.raises(RunDeclinedError):
        await client.delete("executions", dead_selection(client, *GROUPS), confirm=confirm)

    assert len(seen) == 1
    assert len(seen[0].items) == 15
    assert aicore_simulator.statistics().mutating_requests == 0


async def test_the_progress_is_told_one_plan_for_the_whole_run(client, aicore_simulator):
    """Listeners get one PlanReady with the total of every group, not one per group."""
    seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 10))
    plans = []

    await client.delete(
        "executions",
        dead_selection(client, *GROUPS),
        listener=lambda e: plans.append(e) if isinstance(e, PlanReady) else None,
    )

    assert [plan.total for plan in plans] == [15]


async def test_a_group_selection_is_used_once_and_by_its_own_client(make_client):
    """Giving a group selection twice, or to another client, is refused before anything is sent."""
    async with make_client() as one, make_client() as other:
        chosen = dead_selection(one, "web")
        with pytest.raises(InputError, match="client that made it"):
            await other.delete("executions", chosen)
        with pytest.raises(InputError, match="kind it was made for"):
            await one.delete("deployments", chosen)
        await one.plan("executions", chosen)
        with pytest.raises(InputError, match="already used"):
            await one.delete("executions", chosen)


async def test_an_interrupted_run_across_groups_is_finished_by_resume(
    make_client, aicore_simulator, tmp_path
):
    """One journal for every group: a resume finishes each, and reports every item once."""
    dead = seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 400))
    journal = tmp_path / "fleet.journal"
    interrupt = anyio.Event()

    def on_answer(event) -> None:
        if isinstance(event, ItemSettled):
            interrupt.set()

    async with make_client(limits=Limits(concurrency=2)) as client:
        cut = await client.delete(
            "executions",
            dead_selection(client, *GROUPS),
            journal=journal,
            interrupt=interrupt,
            listener=on_answer,
        )
    assert cut.summary.interrupted
    assert not cut.ok
    record = read_journal(journal)
    assert record.resource_groups == GROUPS
    assert record.across_groups

    # A client of another group still resumes the run in the groups its journal names.
    async with make_client(resource_group="elsewhere") as client:
        finished = await client.resume(journal)

    assert finished.ok
    assert finished.run is not None
    assert finished.run.resumes == cut.run.id
    assert [(i.resource_group, i.id) for i in finished.items] == [
        (i.resource_group, i.id) for i in cut.items
    ]
    assert set(finished.groups) == set(GROUPS)
    assert finished.summary.carried_over == sum(i.outcome.ok for i in cut.items)
    for group, ids in dead.items():
        states = aicore_simulator.states("executions", group)
        assert all(states[i].deleted for i in ids if i in states)
    assert aicore_simulator.statistics().violation_count == 0


async def test_a_journal_of_the_older_format_is_resumed(
    client, aicore_simulator, aicore_server, tmp_path
):
    """A format 1 journal (no groups recorded) is upgraded and finished in its one group."""
    ids = aicore_simulator.seed("executions", 20, statuses={"DEAD": 1})
    journal = tmp_path / "old.journal"
    db = sqlite3.connect(journal)
    with db:
        db.executescript(
            """
            CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE items (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, outcome TEXT, code TEXT,
                message TEXT, attempts INTEGER NOT NULL DEFAULT 0, status TEXT,
                unconfirmed INTEGER NOT NULL DEFAULT 0, delete_unsure INTEGER NOT NULL DEFAULT 0,
                stopped_by_us INTEGER NOT NULL DEFAULT 0
            );
            """
        )
        meta = {
            "format": 1,
            "kind": "executions",
            "target": "DELETED",
            "resource_group": "default",
            "base_url": aicore_server.base_url,
            "duplicates": 0,
            "plan": {"delete": 20},
        }
        db.executemany(
            "INSERT INTO run VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
        )
        db.executemany("INSERT INTO items (id) VALUES (?)", [(i,) for i in ids])
    db.close()

    report = await client.resume(journal)

    assert report.ok
    assert [item.id for item in report.items] == ids
    assert {item.resource_group for item in report.items} == {"default"}
    assert all(s.deleted for s in aicore_simulator.states("executions").values())


async def test_a_copy_of_a_group_journal_cannot_be_resumed_twice_into_confusion(
    client, aicore_simulator, tmp_path
):
    """A finished run across groups, resumed, sends nothing: every item is final."""
    seed_groups(aicore_simulator, {"ml-train": 10, "web": 10})
    journal = tmp_path / "done.journal"
    await client.delete("executions", dead_selection(client, "ml-train", "web"), journal=journal)
    before = aicore_simulator.statistics().mutating_requests
    shutil.copy(journal, tmp_path / "copy.journal")

    report = await client.resume(tmp_path / "copy.journal")

    assert report.ok
    assert report.summary.carried_over == 10
    assert aicore_simulator.statistics().mutating_requests == before


def test_group_selection_has_a_short_repr(client):
    """Its repr names the kind and the groups."""
    assert repr(dead_selection(client, "a1b", "c2d")) == "<GroupSelection executions in a1b, c2d>"


LABELLED = SimulatorConfig(
    resource_groups={
        "ml-train": {"ext.ai.sap.com/team": "ml"},
        "ml-serve": {"ext.ai.sap.com/team": "ml"},
        "web": {"ext.ai.sap.com/team": "web"},
    }
)


@pytest.mark.parametrize("aicore_simulator_config", [LABELLED])
async def test_groups_chosen_by_label_are_listed_by_the_service(client, aicore_simulator):
    """``ResourceGroups.all(labels=...)`` runs in the groups the service lists for them."""
    dead = seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 20))
    chosen = client.select(
        "executions",
        Selection(statuses="DEAD"),
        resource_groups=ResourceGroups.all(labels=["ext.ai.sap.com/team=ml"]),
    )

    report = await client.delete("executions", chosen)

    assert list(report.groups) == ["ml-train", "ml-serve"]
    assert report.summary.outcomes[Outcome.DELETED] == 20
    web = aicore_simulator.states("executions", "web")
    assert not any(web[i].deleted for i in dead["web"])
    assert aicore_simulator.statistics().requests["resource_groups"] == 1


@pytest.mark.parametrize("aicore_simulator_config", [LABELLED])
async def test_the_listing_pages_through_the_simulator(aicore_server, aicore_clock):
    """One group per page: the Link header's continueToken leads through every page."""
    clock = aicore_clock
    caller = Caller(
        transport=clock.track(AiohttpTransport()),
        auth=ClientCredentials(
            aicore_server.token_url,
            aicore_server.credentials.client_id,
            aicore_server.credentials.client_secret,
            clock=clock,
        ),
        pacer=Pacer(clock),
        limiter=anyio.CapacityLimiter(2),
        retry=RetryPolicy(),
        budget=RetryBudget(10),
        clock=clock,
        window=Window(clock, 4),
    )
    try:
        everything = await list_resource_groups(
            caller, aicore_server.base_url, selector=None, page_size=1
        )
        not_web = await list_resource_groups(
            caller, aicore_server.base_url, selector="ext.ai.sap.com/team!=web", page_size=1
        )
    finally:
        await caller.transport.aclose()
        await caller.auth.aclose()

    assert everything == ["ml-train", "ml-serve", "web"]
    assert not_web == ["ml-train", "ml-serve"]


@pytest.mark.parametrize("aicore_simulator_config", [attrs.evolve(LABELLED, admin_scope=False)])
async def test_without_the_admin_scope_the_run_stops_before_anything_changes(
    client, aicore_simulator
):
    """A 403 on the listing is an AdminScopeError, and no item is touched."""
    seed_groups(aicore_simulator, dict.fromkeys(GROUPS, 10))
    chosen = client.select("executions", Selection(), resource_groups=ResourceGroups.all())

    with pytest.raises(AdminScopeError, match="admin scope"):
        await client.delete("executions", chosen)

    assert aicore_simulator.statistics().mutating_requests == 0


async def test_keep_latest_keeps_the_newest_of_each_configuration_in_each_group(
    client, aicore_simulator, aicore_clock
):
    """Across groups, keep_latest keeps each group's own newest per configuration."""
    runs = {}
    for group in ("team-a", "team-b"):
        runs[group] = [f"{group}-run{n}" for n in range(4)]
        for n, item_id in enumerate(runs[group]):
            aicore_simulator.put(
                "executions",
                item_id,
                "DEAD",
                resource_group=group,
                configuration_id="cfg-shared-name",  # the same name, but per group
                created_at=aicore_clock.time() - 3600.0 * (10 - n),  # run3 is the newest
            )
    chosen = client.select(
        "executions",
        Selection(statuses="DEAD", keep_latest=1),
        resource_groups=ResourceGroups(names=("team-a", "team-b")),
    )

    plan = await client.plan("executions", chosen)
    chosen = client.select(
        "executions",
        Selection(statuses="DEAD", keep_latest=1),
        resource_groups=ResourceGroups(names=("team-a", "team-b")),
    )
    report = await client.delete("executions", chosen)

    assert sorted(item.id for item in plan.kept) == ["team-a-run3", "team-b-run3"]
    assert {name: len(group.kept) for name, group in plan.groups.items()} == {
        "team-a": 1,
        "team-b": 1,
    }
    assert report.summary.kept == 2
    assert {name: summary.kept for name, summary in report.groups.items()} == {
        "team-a": 1,
        "team-b": 1,
    }
    for group in ("team-a", "team-b"):
        states = aicore_simulator.states("executions", group)
        assert [i for i in runs[group] if not states[i].deleted] == [f"{group}-run3"]


async def test_a_run_across_groups_keeps_what_it_learned_once(
    make_client, aicore_simulator, tmp_path, monkeypatch
):
    """The groups share one limit, so a run across them saves the learned limits once."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    kept = []
    monkeypatch.setattr(LimitsMemory, "keep", lambda _self, learned: kept.append(learned))
    seed_groups(aicore_simulator, {"team-a": 20, "team-b": 20, "team-c": 20})

    async with make_client(limits=Limits(remember=True)) as client:
        report = await client.delete(
            "executions", dead_selection(client, "team-a", "team-b", "team-c")
        )

    assert report.summary.outcomes[Outcome.DELETED] == 30
    assert len(kept) == 1
    assert kept[0].window is not None
