"""A cleanup task for an orchestrator: plain Python, settings from the environment.

Airflow's PythonOperator and Prefect's tasks call :func:`cleanup_old_executions`; it
returns the report's JSON (small enough for XCom when you keep only the summary) and
raises when any item did not reach its goal, so the orchestrator marks the task failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aicore_bulk
from aicore_bulk import BulkClient, Selection, Status


def cleanup_old_executions(*, days: int = 30, max_items: int = 10_000) -> dict[str, Any]:
    """Delete COMPLETED and DEAD executions older than ``days``; refuse above ``max_items``."""
    return asyncio.run(_cleanup(days=days, max_items=max_items))


async def _cleanup(*, days: int, max_items: int) -> dict[str, Any]:
    selection = Selection(statuses=(Status.COMPLETED, Status.DEAD), older_than=days * 86_400)
    async with BulkClient.from_env() as client:
        report = await client.delete(
            "executions",
            client.select("executions", selection),
            confirm=lambda plan: sum(plan.paths.values()) <= max_items,
        )
    report.raise_for_failures()
    return report.to_json()["summary"]


def delete_listed(ids: list[str]) -> dict[str, Any]:
    """The one-liner form, for a list of IDs handed over by an upstream task."""
    return aicore_bulk.delete_sync("executions", ids).raise_for_failures().to_json()["summary"]
