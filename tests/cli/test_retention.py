"""``--keep-latest``: the plan shows what is kept and why, and a run leaves exactly that."""

from __future__ import annotations

import json
import time

from tests.cli.test_cli import cli, server, sim  # noqa: F401 - fixtures, requested by name

CONFIGS = ("cfg-a", "cfg-b", "cfg-c")


def put_history(sim):  # noqa: F811 - the fixture's value, passed in
    """Five DEAD executions of each of three configurations, an hour apart (run4 newest)."""
    now = time.time()
    for config in CONFIGS:
        for n in range(5):
            sim.put(
                "executions",
                f"{config}-run{n}",
                "DEAD",
                configuration_id=config,
                created_at=now - 3600.0 * (10 - n),
            )


def test_the_plan_lists_the_kept_items_with_their_reasons(cli, sim):  # noqa: F811
    """The plan prints how many are kept and each kept item with why; nothing is changed."""
    put_history(sim)

    result = cli("plan", "delete", "executions", "--keep-latest", "2", "--no-progress")

    assert result.returncode == 0, result.stderr
    assert "dry run: executions -> DELETED in resource group default: 9 items" in result.stdout
    assert "kept, not changed: 6 items" in result.stdout
    for config in CONFIGS:
        for n in (4, 3):
            line = f"  keep {config}-run{n} (DEAD): one of the 2 newest of configuration {config}"
            assert line in result.stdout.splitlines()
    assert sim.statistics().mutating_requests == 0


def test_the_plan_json_holds_the_kept_items_apart_from_the_items(cli, sim):  # noqa: F811
    """-o json gives kept items their own list, and the summary counts them."""
    put_history(sim)

    result = cli(
        "plan",
        "delete",
        "executions",
        "--keep-latest",
        "1",
        "--keep-latest-per",
        "scenario",
        "-o",
        "json",
        "-q",
    )

    plan = json.loads(result.stdout)
    # Every item is of scenario "training": one item is kept, the newest of all.
    assert plan["kept"] == [
        {"id": "cfg-c-run4", "status": "DEAD", "reason": "the newest of scenario training"}
    ]
    assert plan["summary"]["kept"] == 1
    assert plan["summary"]["total"] == len(plan["items"]) == 14
    assert result.returncode == 0


def test_a_delete_keeping_two_leaves_exactly_the_two_newest_per_configuration(cli, sim):  # noqa: F811
    """Deleting with --keep-latest 2 deletes the rest; the report counts kept ones apart."""
    put_history(sim)

    result = cli("delete", "executions", "--keep-latest", "2", "--yes", "-o", "json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    live = {i for i, state in sim.states("executions").items() if not state.deleted}
    assert live == {f"{config}-run{n}" for config in CONFIGS for n in (3, 4)}
    assert report["summary"]["kept"] == 6
    assert report["summary"]["outcomes"]["deleted"] == 9
    assert report["summary"]["ok"] is True
    assert len(report["items"]) == 9
    assert report["run"]["options"]["labels"]["selection"] == "--keep-latest 2"


def test_max_items_counts_what_would_change_after_retention(cli, sim):  # noqa: F811
    """--max-items weighs only the items retention leaves to change, not the kept ones."""
    put_history(sim)

    refused = cli("delete", "executions", "--keep-latest", "2", "--max-items", "8", "--yes")
    allowed = cli("delete", "executions", "--keep-latest", "2", "--max-items", "9", "--yes")

    assert refused.returncode == 3
    assert "9 executions would change, more than --max-items 8" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert "6 items kept by --keep-latest, not changed" in allowed.stdout
