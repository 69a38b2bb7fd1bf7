"""A whole tenant from the command line: several resource groups, chosen by name or by label.

The tenant has three groups: two labelled ``ext.ai.sap.com/team=ml``, one ``team=web``, each
with DEAD and RUNNING executions. ``aicore-bulk`` runs as a subprocess against the simulator.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest

from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

TEAM = "ext.ai.sap.com/team"
TENANT = {"ml-train": {TEAM: "ml"}, "ml-serve": {TEAM: "ml"}, "web-shop": {TEAM: "web"}}
#: DEAD executions per group: over 100 in one group, so that it needs two bulk requests.
DEAD = {"ml-train": 150, "ml-serve": 40, "web-shop": 30}


def make_tenant(**config) -> Simulator:
    sim = Simulator(SimulatorConfig(stop_delay=0.05, resource_groups=TENANT, **config))
    for group, dead in DEAD.items():
        sim.seed("executions", dead, statuses={"DEAD": 1}, resource_group=group)
        sim.seed("executions", 10, statuses={"RUNNING": 1}, resource_group=group)
    return sim


@pytest.fixture
def tenant() -> Simulator:
    return make_tenant()


@pytest.fixture
def cli(tmp_path):
    """Run ``aicore-bulk`` against a simulator (served until the test ends)."""
    servers = {}
    with contextlib.ExitStack() as stack:

        def run(sim, *args):
            if id(sim) not in servers:
                servers[id(sim)] = stack.enter_context(serve_in_thread(sim))
            environment = bare_environment(HOME=str(tmp_path), **servers[id(sim)].environment())
            return subprocess.run(
                [sys.executable, "-m", "aicore_bulk", *args],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env=environment,
                cwd=tmp_path,
            )

        yield run


def live(sim, group: str) -> dict[str, str]:
    """The status of every execution of a group not deleted."""
    return {
        item_id: state.status
        for item_id, state in sim.states("executions", group).items()
        if not state.deleted
    }


def test_deleting_by_label_takes_exactly_the_dead_of_the_matching_groups(cli, tenant):
    """The ml groups lose their DEAD executions, nothing else; the fewest bulk requests each."""
    done = cli(
        tenant,
        "delete",
        "executions",
        "--all-resource-groups",
        "--resource-group-label",
        f"{TEAM}=ml",
        "--status",
        "DEAD",
        "--yes",
        "-o",
        "json",
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["outcomes"]["deleted"] == 190
    assert set(report["groups"]) == {"ml-train", "ml-serve"}
    assert report["groups"]["ml-train"]["outcomes"]["deleted"] == 150
    assert report["run"]["resource_groups"] == ["ml-train", "ml-serve"]
    assert {item["resource_group"] for item in report["items"]} == {"ml-train", "ml-serve"}
    for group in ("ml-train", "ml-serve"):
        assert set(live(tenant, group).values()) == {"RUNNING"}
    assert list(live(tenant, "web-shop").values()).count("DEAD") == 30
    statistics = tenant.statistics()
    assert statistics.violation_count == 0
    # The fewest each group allows: 150 DEAD take two requests of 100 at most, 40 take one.
    assert statistics.groups["ml-train"].requests["bulk"] == 2
    assert statistics.groups["ml-serve"].requests["bulk"] == 1
    # The web group was never sent a request.
    assert "web-shop" not in statistics.groups


def test_a_negated_label_excludes_the_groups_that_carry_it(cli, tenant):
    """``KEY!=VALUE`` narrows every group to those without the label's value."""
    done = cli(
        tenant,
        "plan",
        "delete",
        "executions",
        "--all-resource-groups",
        "--resource-group-label",
        f"{TEAM}!=ml",
        "--status",
        "DEAD",
        "-o",
        "json",
    )

    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert set(plan["groups"]) == {"web-shop"}
    assert plan["summary"]["paths"]["delete"] == 30


def test_plan_prints_a_table_per_group_and_the_total(cli, tenant):
    """A dry run across named groups shows each group's table, then the whole run's."""
    done = cli(
        tenant,
        "plan",
        "delete",
        "executions",
        "--resource-group",
        "ml-serve",
        "--resource-group",
        "web-shop",
        "--status",
        "DEAD",
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "in resource group ml-serve: 40 items" in out
    assert "in resource group web-shop: 30 items" in out
    assert "in 2 resource groups (ml-serve, web-shop): 70 items" in out
    assert out.index("ml-serve: 40") < out.index("web-shop: 30") < out.index("2 resource groups")
    assert tenant.statistics().mutating_requests == 0


def test_max_items_counts_every_group_together(cli, tenant):
    """--max-items refuses a run whose groups together change more items than it allows."""
    done = cli(
        tenant,
        "delete",
        "executions",
        "--resource-group",
        "ml-serve",
        "--resource-group",
        "web-shop",
        "--status",
        "DEAD",
        "--max-items",
        "60",
        "--yes",
    )

    assert done.returncode == 3
    assert "70 executions would change, more than --max-items 60" in done.stderr
    assert tenant.statistics().mutating_requests == 0


def test_the_summary_has_a_line_per_group(cli, tenant):
    """The human summary names the groups and adds one line for each."""
    done = cli(
        tenant,
        "delete",
        "executions",
        "--resource-group",
        "ml-serve",
        "--resource-group",
        "web-shop",
        "--status",
        "DEAD",
        "--yes",
    )

    assert done.returncode == 0, done.stderr
    assert "in 2 resource groups (ml-serve, web-shop): 70 items" in done.stdout
    assert "  ml-serve: 40 deleted;" in done.stdout
    assert "  web-shop: 30 deleted;" in done.stdout


def test_a_journal_across_groups_is_resumed_in_every_group(cli, tenant, tmp_path):
    """`resume` of a run across groups finishes it in the groups its journal names."""
    first = cli(
        tenant,
        "delete",
        "executions",
        "--resource-group",
        "ml-serve",
        "--resource-group",
        "web-shop",
        "--status",
        "DEAD",
        "--yes",
        "--journal",
        "run.journal",
        "-q",
    )
    assert first.returncode == 0, first.stderr

    again = cli(tenant, "resume", "run.journal", "-o", "json")

    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["summary"]["carried_over"] == 70
    assert set(report["groups"]) == {"ml-serve", "web-shop"}


def test_without_the_admin_scope_the_error_says_to_name_the_groups(cli):
    """A credential that may not list groups gets exit 2 and the way around it."""
    done = cli(
        make_tenant(admin_scope=False),
        "delete",
        "executions",
        "--all-resource-groups",
        "--status",
        "DEAD",
        "--yes",
    )

    assert done.returncode == 2
    assert "lack the admin scope" in done.stderr
    assert "--resource-group" in done.stderr
