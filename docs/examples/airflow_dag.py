"""Airflow 3 DAGs that clean up old AI Core executions: in one resource group, or a fleet.

Put this file in your DAGs folder and define the connection ``aicore``
(docs/orchestrators.md says how). tests/integrations/test_airflow.py runs all three DAGs
against the simulator with ``dag.test()``.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task

from aicore_bulk.integrations.airflow import AICoreBulkOperator

#: COMPLETED and DEAD executions created more than 30 days ago.
OLD_AND_FINISHED = {"statuses": ["COMPLETED", "DEAD"], "older_than": 30 * 86_400}
#: The fleet: one mapped task per resource group.
RESOURCE_GROUPS = ["team-a", "team-b", "team-c"]
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(schedule="@daily", start_date=START, catchup=False)
def aicore_cleanup() -> None:
    """Plan (the dry run lands in the log and in XCom), then delete."""
    plan = AICoreBulkOperator(
        task_id="plan", action="plan", selection=OLD_AND_FINISHED, conn_id="aicore"
    )
    delete = AICoreBulkOperator(
        task_id="delete", selection=OLD_AND_FINISHED, conn_id="aicore", max_items=10_000
    )
    plan >> delete


@dag(schedule="@daily", start_date=START, catchup=False)
def aicore_cleanup_fleet() -> None:
    """One mapped task per resource group: how a fleet outgrows one process."""
    cleanup = AICoreBulkOperator.partial(
        task_id="cleanup", selection=OLD_AND_FINISHED, conn_id="aicore", max_items=10_000
    ).expand(resource_group=RESOURCE_GROUPS)

    @task
    def deleted(summaries: list[dict]) -> dict[str, int]:
        """How many executions each group lost."""
        return {s["resource_group"]: s["summary"]["outcomes"]["deleted"] for s in summaries}

    deleted(cleanup.output)


@dag(schedule="@daily", start_date=START, catchup=False)
def aicore_cleanup_cli() -> None:
    """The same cleanup through the command line: its exit code decides the task's state."""
    BashOperator(
        task_id="cleanup",
        bash_command=(
            "aicore-bulk delete executions --status COMPLETED --status DEAD "
            "--older-than 30d --max-items 10000 --no-progress"
        ),
        env={
            "AICORE_BASE_URL": "{{ conn.aicore.host }}",
            "AICORE_CLIENT_ID": "{{ conn.aicore.login }}",
            "AICORE_CLIENT_SECRET": "{{ conn.aicore.password }}",
            "AICORE_AUTH_URL": "{{ conn.aicore.extra_dejson.auth_url }}",
            "AICORE_RESOURCE_GROUP": "{{ conn.aicore.extra_dejson.resource_group }}",
        },
        append_env=True,
        do_xcom_push=False,
    )


aicore_cleanup()
aicore_cleanup_fleet()
aicore_cleanup_cli()
