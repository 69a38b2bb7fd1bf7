"""DAGs the Airflow tests run besides the documented ones: a failure, and other settings."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from aicore_bulk.integrations.airflow import AICoreBulkOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
UNKNOWN = ["unknown-0", "unknown-1"]


@dag(schedule=None, start_date=START, catchup=False)
def aicore_stop_unknown() -> None:
    """A stop of UNKNOWN executions: each is skipped, so the task fails."""
    AICoreBulkOperator(task_id="stop", action="stop", ids=UNKNOWN, conn_id="aicore")


@dag(schedule=None, start_date=START, catchup=False)
def aicore_from_environment() -> None:
    """IDs handed over by an upstream task; settings from AICORE_* (no connection)."""

    @task
    def find() -> list[str]:
        return ["listed-0", "listed-1"]

    AICoreBulkOperator(task_id="delete", ids=find(), resource_group="team-z")


@dag(schedule=None, start_date=START, catchup=False)
def aicore_service_key() -> None:
    """A connection whose extra is a whole service key, with its resource group beside it."""
    AICoreBulkOperator(task_id="delete", ids=["keyed-0"], conn_id="aicore_key")


aicore_stop_unknown()
aicore_from_environment()
aicore_service_key()
