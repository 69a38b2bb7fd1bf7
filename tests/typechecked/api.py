"""The public API as users write it, checked by ``mypy --strict`` and never run.

A change that breaks a user's types (a renamed keyword, a narrowed return type) fails the
type check here, as stamina's ``tests/typing`` does.
pytest collects nothing here: no file is named ``test_*``.
"""

from __future__ import annotations

from datetime import timedelta

import anyio

import aicore_bulk
from aicore_bulk import (
    AdminScopeError,
    AiohttpTransport,
    BulkClient,
    Clock,
    GroupSelection,
    ItemResult,
    KeptItem,
    LabelMatch,
    Limits,
    Outcome,
    Plan,
    PlannedItem,
    Report,
    ResourceGroups,
    RetryPolicy,
    Route,
    RunDeclinedError,
    RunInfo,
    RunOptions,
    RunRecord,
    Selection,
    Status,
    SystemClock,
    Target,
)
from aicore_bulk.testing import (
    GroupStatistics,
    ResourceGroup,
    Simulator,
    SimulatorConfig,
    VirtualClock,
    serve,
)


async def clean_up(ids: list[str]) -> Report:
    clock: Clock = VirtualClock()
    options = RunOptions(stop_wait=60.0, poll_interval=1.0, page_size=1_000, batch_wait=2.0)
    async with BulkClient(
        base_url="https://api.example.com",
        resource_group="default",
        token="t",
        limits=Limits(concurrency=32, rate=50.0, adaptive=True, remember=True),
        retry=RetryPolicy(attempts=3, request_timeout=10.0, wait_jitter=0.5),
        options=options,
        transport=AiohttpTransport(connections=32),
        clock=clock,
    ) as client:
        plan: Plan = await client.plan("executions", ids, target=Target.STOPPED)
        first: PlannedItem = plan.items[0]
        route: Route = first.path
        status: Status | None = first.status
        waits: int = plan.paths[Route.STOP_THEN_DELETE] + plan.paths[Route.WAIT_THEN_DELETE]
        assert waits >= 0 or status is None
        newest = Selection(statuses="DEAD", keep_latest=3, keep_latest_per="scenario")
        kept: tuple[KeptItem, ...] = (
            await client.plan("executions", client.select("executions", newest))
        ).kept
        reason: str = kept[0].reason if kept else ""
        assert reason or not kept
        selected = client.select("executions", Selection(statuses=(Status.DEAD,)))
        try:
            report = await client.delete(
                "executions",
                selected,
                deadline=600.0,
                confirm=lambda plan: plan.requests < 100,
                interrupt=anyio.Event(),
                labels={"ticket": "OPS-1234"},
            )
        except RunDeclinedError as declined:
            declined_plan: Plan = declined.plan
            assert declined_plan.kind == "executions"
            raise
        run: RunInfo | None = report.run
        assert run is None or run.options.labels["ticket"] == "OPS-1234"
        item: ItemResult = report.items[0]
        outcome: Outcome = item.outcome
        last_seen: Status | None = item.status
        assert last_seen is not Status.RUNNING
        assert outcome.ok or route is Route.SKIP
        left: set[str] = await client.wait_gone("executions", ids, within=60.0)
        assert not left
        return await client.stop("deployments", iter(ids), include_running=True)


async def simulate() -> None:
    clock = VirtualClock()
    sim = Simulator(clock=clock)
    ids: list[str] = sim.seed("executions", 10)
    async with serve(sim) as server:
        client = BulkClient(
            base_url=server.base_url,
            resource_group="default",
            auth_url=server.token_url,
            client_id=server.credentials.client_id,
            client_secret=server.credentials.client_secret,
            clock=clock,
            transport=clock.track(AiohttpTransport()),
        )
        async with client:
            report = await client.delete("executions", ids)
    report.raise_for_failures()


def simulate_groups() -> int:
    team = "ext.ai.sap.com/team"
    config = SimulatorConfig(
        resource_groups={"ml-a": {team: "ml"}, "web-a": {team: "web"}}, admin_scope=False
    )
    sim = Simulator(config)
    group: ResourceGroup = sim.add_resource_group("ml-b", {team: "ml"})
    labelled: tuple[ResourceGroup, ...] = sim.resource_groups()
    per_group: GroupStatistics = sim.statistics().groups[group.resource_group_id]
    return len(labelled) + per_group.requests.get("bulk", 0) + per_group.bulk_sizes.get(100, 0)


def from_plain_python(ids: list[str]) -> None:
    report: Report = aicore_bulk.delete_sync(
        "executions", ids, resource_group="team-a", options=RunOptions(grace=1.0)
    )
    plan: Plan = aicore_bulk.plan_sync("deployments", ids, target="STOPPED", include_running=True)
    old = Selection(
        statuses=["COMPLETED", Status.DEAD],
        older_than=timedelta(days=30),
        executable_ids="trainer-v1",
    )
    dead: Report = aicore_bulk.delete_sync("executions", Selection(statuses="dead", older_than=60))
    stopped: Report = aicore_bulk.stop_sync("executions", old)
    assert dead.ok == stopped.ok
    record: RunRecord = aicore_bulk.read_journal("cleanup.journal")
    assert report.ok
    assert plan.requests >= 0
    assert record.kind == "executions"
    assert record.include_running in {True, False}
    assert aicore_bulk.is_valid_id("aa97b177")
    system: Clock = SystemClock()
    assert system.monotonic() >= 0


async def clean_groups(client: BulkClient) -> dict[str, int]:
    """A run across resource groups, chosen by label."""
    groups = ResourceGroups.all(
        labels=["ext.ai.sap.com/team=ml", LabelMatch("k", "v", negated=True)]
    )
    chosen: GroupSelection = client.select(
        "executions", Selection(statuses="DEAD"), resource_groups=groups
    )
    plan: Plan = await client.plan("executions", chosen)
    named = ResourceGroups(names=("ml-train", "ml-serve"))
    report = await client.delete(
        "executions", client.select("executions", Selection(), resource_groups=named)
    )
    group: str | None = report.items[0].resource_group
    del plan, group
    try:
        await client.stop("executions", chosen)
    except AdminScopeError as error:
        status: int | None = error.status
        del status
    record: RunRecord = aicore_bulk.read_journal("j")
    names: tuple[str, ...] = record.resource_groups
    del names
    return {name: summary.total for name, summary in report.groups.items()}
