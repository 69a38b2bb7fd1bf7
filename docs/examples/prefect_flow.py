"""Prefect 3 flows that clean up old AI Core executions: in one resource group, or a fleet.

Settings come from AICORE_* variables, AICORE_SERVICE_KEY or a profile, as SAP's SDKs read
them. tests/integrations/test_prefect.py runs both flows against the simulator.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, unmapped

from aicore_bulk.integrations.prefect import delete, plan


def old_and_finished(days: int) -> dict[str, Any]:
    """COMPLETED and DEAD executions created more than ``days`` days ago."""
    return {"statuses": ["COMPLETED", "DEAD"], "older_than": days * 86_400}


@flow(name="aicore-cleanup")
def aicore_cleanup(days: int = 30, max_items: int = 10_000) -> dict[str, Any]:
    """Plan (the dry run shows in the log), then delete; fails if any item is not deleted."""
    selection = old_and_finished(days)
    plan("executions", selection=selection)
    return delete("executions", selection=selection, max_items=max_items)


@flow(name="aicore-cleanup-fleet")
def aicore_cleanup_fleet(resource_groups: list[str], days: int = 30) -> dict[str, int]:
    """One task per resource group, all at once: how a fleet outgrows one process.

    Returns how many executions each group lost; fails if any group's task failed.
    """
    reports = delete.map(
        "executions",
        selection=unmapped(old_and_finished(days)),  # a dict would be mapped over its keys
        resource_group=resource_groups,
    )
    return {
        group: report["summary"]["outcomes"]["deleted"]
        for group, report in zip(resource_groups, reports.result(), strict=True)
    }
