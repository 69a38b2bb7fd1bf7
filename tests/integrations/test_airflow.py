"""The Airflow operator and the example DAGs, run by Airflow 3's ``dag.test()``.

A temporary ``AIRFLOW_HOME`` (see conftest.py) holds a SQLite metadata DB, migrated once
with ``airflow db migrate``, and a DAGs folder linking the files under test.
``nox -s integrations-airflow`` runs this; without Airflow the module is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "airflow.sdk", reason="Airflow 3 is not installed: nox -s integrations-airflow runs these tests"
)

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from aicore_bulk import InputError
from aicore_bulk.integrations.airflow import AICoreBulkOperator
from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread

pytestmark = [
    # Airflow 3.3's in-process execution API imports starlette's test client, which warns
    # that httpx is deprecated there (an Airflow dependency matter, not ours).
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated"),
]

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "airflow_dag.py"
TEST_DAGS = Path(__file__).with_name("airflow_test_dags.py")
DAY = 86_400


@pytest.fixture(scope="module")
def dags():
    """The metadata DB migrated, and the DAG files linked into the DAGs folder."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(exist_ok=True)
    modules = {}
    for path in (EXAMPLE, TEST_DAGS):
        linked = folder / path.name
        if not linked.exists():
            linked.symlink_to(path)
        spec = importlib.util.spec_from_file_location(path.stem, linked)
        modules[path.stem] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[path.stem])
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return modules


@pytest.fixture
def sim():
    return Simulator(SimulatorConfig(stop_delay=0.0))


@pytest.fixture
def server(sim, monkeypatch, tmp_path):
    """The simulator, the connection ``aicore`` pointing at it, and nothing else to read."""
    with serve_in_thread(sim) as running:
        connection = {
            "conn_type": "generic",
            "host": running.base_url,
            "login": running.credentials.client_id,
            "password": running.credentials.client_secret,
            "extra": {"auth_url": running.token_url, "resource_group": "default"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_AICORE", json.dumps(connection))
        monkeypatch.setenv("AICORE_HOME", str(tmp_path))
        yield running


def results(run):
    """Each task instance's state and return value, by (task_id, map_index)."""
    with create_session() as session:
        states = {
            (ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances(session=session)
        }
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id)).all()
        values = {(r.task_id, r.map_index, r.key): XComModel.deserialize_value(r) for r in rows}
    return states, values


def seed(sim, group="default", old=3, new=2):
    now = sim.clock.time()
    for i in range(old):
        sim.put(
            "executions",
            f"old-{group}-{i}",
            "DEAD",
            resource_group=group,
            created_at=now - 40 * DAY,
        )
    for i in range(new):
        sim.put(
            "executions",
            f"new-{group}-{i}",
            "COMPLETED",
            resource_group=group,
            created_at=now - DAY,
        )


def test_the_example_dag_plans_then_deletes_old_finished_runs(dags, sim, server, capfd):
    """aicore_cleanup's plan changes nothing, its delete takes only old finished runs."""
    seed(sim, old=3, new=2)

    run = dags["airflow_dag"].aicore_cleanup().test()

    states, values = results(run)
    assert run.state == "success"
    assert states == {("plan", -1): "success", ("delete", -1): "success"}
    planned = values["plan", -1, "return_value"]
    assert planned["dry_run"] is True
    assert planned["summary"]["paths"]["delete"] == 3
    deleted = values["delete", -1, "return_value"]
    assert deleted["resource_group"] == "default"
    assert deleted["summary"]["outcomes"]["deleted"] == 3
    assert "items" not in deleted
    assert all(sim.state("executions", f"old-default-{i}").deleted for i in range(3))
    assert not any(sim.state("executions", f"new-default-{i}").deleted for i in range(2))
    task_log = capfd.readouterr().out
    assert "aicore-bulk: 3 of 3 settled (100%)" in task_log
    assert server.credentials.client_secret not in task_log


def test_the_fleet_dag_maps_one_task_per_resource_group(dags, sim, server):
    """aicore_cleanup_fleet expands to one task per group; each cleans its own group only."""
    groups = {"team-a": 1, "team-b": 2, "team-c": 3}
    for group, old in groups.items():
        seed(sim, group, old=old, new=1)
    seed(sim, "default", old=2, new=0)

    run = dags["airflow_dag"].aicore_cleanup_fleet().test()

    states, values = results(run)
    assert run.state == "success"
    assert {key: state for key, state in states.items() if key[0] == "cleanup"} == {
        ("cleanup", 0): "success",
        ("cleanup", 1): "success",
        ("cleanup", 2): "success",
    }
    assert values["deleted", -1, "return_value"] == groups
    for group, old in groups.items():
        assert all(sim.state("executions", f"old-{group}-{i}", group).deleted for i in range(old))
        assert not sim.state("executions", f"new-{group}-0", group).deleted
    assert not any(sim.state("executions", f"old-default-{i}").deleted for i in range(2))


def test_the_command_line_dag_cleans_up_through_the_connection(
    dags, sim, server, capfd, monkeypatch
):
    """aicore_cleanup_cli runs aicore-bulk with settings rendered from the connection."""
    seed(sim, old=2, new=1)
    # The worker has aicore-bulk installed: this venv's command is on its PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    run = dags["airflow_dag"].aicore_cleanup_cli().test()

    assert run.state == "success"
    assert all(sim.state("executions", f"old-default-{i}").deleted for i in range(2))
    assert not sim.state("executions", "new-default-0").deleted
    task_log = capfd.readouterr().out
    assert re.search(r"^\S+ \[info +\]   deleted +2 ", task_log, re.MULTILINE)  # its summary
    assert server.credentials.client_secret not in task_log


def test_failed_items_fail_the_task_and_leave_the_summary_in_xcom(dags, sim, server):
    """A run with items not ok fails its task; the summary is pushed under the key summary."""
    for item_id in ("unknown-0", "unknown-1"):
        sim.put("executions", item_id, "UNKNOWN")

    run = dags["airflow_test_dags"].aicore_stop_unknown().test()

    states, values = results(run)
    assert run.state == "failed"
    assert states == {("stop", -1): "failed"}
    assert values["stop", -1, "summary"]["summary"]["outcomes"]["skipped"] == 2
    assert ("stop", -1, "return_value") not in values


def test_without_a_connection_the_operator_reads_aicore_settings(dags, sim, server, monkeypatch):
    """No conn_id: AICORE_* settings; the IDs come from an upstream task's return value."""
    for name, value in server.environment("default").items():
        monkeypatch.setenv(name, value)
    for i in range(2):
        sim.put("executions", f"listed-{i}", "DEAD", resource_group="team-z")

    run = dags["airflow_test_dags"].aicore_from_environment().test()

    _, values = results(run)
    assert run.state == "success"
    assert values["delete", -1, "return_value"]["resource_group"] == "team-z"
    assert all(sim.state("executions", f"listed-{i}", "team-z").deleted for i in range(2))


def test_a_connection_can_hold_a_whole_service_key(dags, sim, server, monkeypatch):
    """A connection with a service key as its extra, and no other field, is enough."""
    extra = {**server.service_key(), "resource_group": "team-k"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_AICORE_KEY", json.dumps({"conn_type": "generic", "extra": extra})
    )
    sim.put("executions", "keyed-0", "DEAD", resource_group="team-k")

    run = dags["airflow_test_dags"].aicore_service_key().test()

    assert run.state == "success"
    assert sim.state("executions", "keyed-0", "team-k").deleted


def test_an_unknown_action_fails_when_the_dag_is_parsed():
    """A typo in action is an InputError at once, so the DAG never loads."""
    with pytest.raises(InputError, match="unknown action 'purge'"):
        AICoreBulkOperator(task_id="cleanup", action="purge")
