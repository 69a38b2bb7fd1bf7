"""Delete 10,000 executions on the simulator: the tutorial's code, runnable as it stands.

python docs/examples/tutorial.py
"""

import asyncio

from aicore_bulk import BulkClient, Outcome, ResourceGroups, RunOptions, Selection
from aicore_bulk.testing import Faults, Simulator, SimulatorConfig, serve


async def main() -> None:
    # A tenant of 10,000 executions: mostly finished, some running, some stopping.
    sim = Simulator(SimulatorConfig(stop_delay=2.0, faults=Faults(latency=0.01)))
    ids = sim.seed("executions", 10_000)

    async with serve(sim) as server:
        client = BulkClient(
            base_url=server.base_url,
            auth_url=server.token_url,
            client_id=server.credentials.client_id,
            client_secret=server.credentials.client_secret,
            resource_group="default",
            options=RunOptions(poll_interval=0.5),
        )
        async with client:
            plan = await client.plan("executions", ids)
            paths = {route.value: n for route, n in plan.paths.items() if n}
            print("plan:", paths, "requests:", plan.requests)

            report = await client.delete("executions", ids)

    print("outcomes:", {o.value: n for o, n in report.summary.outcomes.items() if n})
    print(
        "requests:",
        report.summary.mutating_requests,
        "changes,",
        report.summary.requests,
        "in all,",
        f"{report.summary.seconds:.1f} s",
    )
    assert report.ok
    assert all(item.outcome is Outcome.DELETED for item in report)
    assert sim.statistics().violation_count == 0
    await whole_tenant()


async def whole_tenant() -> None:
    """Section 7: the DEAD executions of every resource group of team ml, in one run."""
    team = "ext.ai.sap.com/team"
    teams = {"ml-train": {team: "ml"}, "ml-serve": {team: "ml"}, "web-shop": {team: "web"}}
    sim = Simulator(SimulatorConfig(resource_groups=teams))
    for group in teams:
        sim.seed("executions", 1_000, resource_group=group)

    async with serve(sim) as server:
        client = BulkClient(
            base_url=server.base_url,
            auth_url=server.token_url,
            client_id=server.credentials.client_id,
            client_secret=server.credentials.client_secret,
            resource_group="default",
        )
        async with client:
            ml = ResourceGroups.all(labels=[f"{team}=ml"])
            dead = client.select("executions", Selection(statuses="DEAD"), resource_groups=ml)
            report = await client.delete("executions", dead)

    for group, summary in report.groups.items():
        print(group, summary.outcomes[Outcome.DELETED], f"{summary.seconds:.1f} s")
    assert report.ok
    assert list(report.groups) == ["ml-train", "ml-serve"]
    assert "web-shop" not in sim.statistics().groups
    assert sim.statistics().violation_count == 0


if __name__ == "__main__":
    asyncio.run(main())
