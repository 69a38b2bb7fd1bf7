"""Prefect 3 tasks that delete, stop and plan: ``pip install 'aicore-bulk[prefect]'``.

::

    from prefect import flow
    from aicore_bulk.integrations.prefect import delete

    @flow
    def cleanup() -> dict:
        return delete("executions", selection={"statuses": ["COMPLETED", "DEAD"],
                                               "older_than": 30 * 86_400})

Settings:
    By default each task reads its settings as :meth:`aicore_bulk.BulkClient.from_env` does
    (``AICORE_*`` variables, ``AICORE_SERVICE_KEY``, the config file or ``profile``'s,
    ``VCAP_SERVICES``). ``service_key_secret`` names a Prefect ``Secret`` block holding a
    service key instead; then the key and ``resource_group`` (or ``AICORE_RESOURCE_GROUP``)
    are all that is read.

Results:
    :func:`delete` and :func:`stop` return the report's JSON (``Report.to_json()``),
    :func:`plan` the plan's (``Plan.to_json()``).

Failures:
    When any item did not reach its goal, the task logs the summary and the failed items,
    then raises :class:`aicore_bulk.ItemsFailedError`, so the task run is Failed. The whole
    report stays on the exception: ``state = delete(..., return_state=True)``, then
    ``state.result(raise_on_failure=False).report``. The task never retries by itself
    (``retries=0``): aicore-bulk retries every request already, and a task retry would
    plan the whole run again.

Logs:
    Through Prefect's ``get_run_logger()``: the plan, each tenth of the items settled, the
    end of each phase, and a summary (see :class:`~aicore_bulk.integrations._common.ProgressLog`).

Mapping:
    ``delete.map("executions", selection=unmapped(selection), resource_group=groups)`` runs
    one task per resource group. Wrap a selection given as a dict in ``unmapped``: Prefect
    would map over a dict's keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Literal, cast

from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from aicore_bulk import BulkClient, Kind, Report
from aicore_bulk.integrations._common import (
    Job,
    SelectionLike,
    client_from_environment,
    client_from_service_key,
    make_job,
    run,
)

__all__ = ["delete", "plan", "stop"]

# NO_CACHE: a cleanup must act every time it is called; Prefect's default policy would hand
# back an earlier result for the same inputs within a flow run.
_TASK_OPTIONS: dict[str, Any] = {"retries": 0, "cache_policy": NO_CACHE}


@task(name="aicore-bulk delete", **_TASK_OPTIONS)
def delete(
    kind: Kind,
    ids: Iterable[str] | None = None,
    *,
    selection: SelectionLike | None = None,
    resource_group: str | None = None,
    profile: str | None = None,
    service_key_secret: str | None = None,
    max_items: int | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Delete ``ids`` (or what ``selection`` takes), stopping first what must stop.

    Args:
        kind: ``"executions"`` or ``"deployments"``.
        ids: The IDs to delete; or give ``selection``.
        selection: A :class:`~aicore_bulk.Selection` or its fields as a dict
            (``{"statuses": ["DEAD"], "older_than": 604800}``).
        resource_group: Overrides the resource group the settings name.
        profile: Read ``config_<profile>.json`` of the AI Core config folder.
        service_key_secret: Name of a Prefect ``Secret`` block holding a service key.
        max_items: Refuse (raise :class:`~aicore_bulk.RunDeclinedError`, nothing changed)
            when the run would change more items than this.
        deadline: Seconds for the whole run.

    Returns:
        The report's JSON.

    Raises:
        ItemsFailedError: Some items did not reach DELETED; the report is on the exception.
    """
    job = make_job(
        "delete", kind, ids=ids, selection=selection, max_items=max_items, deadline=deadline
    )
    return _run(job, resource_group, profile, service_key_secret)


@task(name="aicore-bulk stop", **_TASK_OPTIONS)
def stop(
    kind: Kind,
    ids: Iterable[str] | None = None,
    *,
    selection: SelectionLike | None = None,
    resource_group: str | None = None,
    profile: str | None = None,
    service_key_secret: str | None = None,
    max_items: int | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Stop every PENDING or RUNNING item; the arguments are those of :func:`delete`."""
    job = make_job(
        "stop", kind, ids=ids, selection=selection, max_items=max_items, deadline=deadline
    )
    return _run(job, resource_group, profile, service_key_secret)


@task(name="aicore-bulk plan", **_TASK_OPTIONS)
def plan(
    kind: Kind,
    ids: Iterable[str] | None = None,
    *,
    target: Literal["DELETED", "STOPPED"] = "DELETED",
    selection: SelectionLike | None = None,
    resource_group: str | None = None,
    profile: str | None = None,
    service_key_secret: str | None = None,
) -> dict[str, Any]:
    """A dry run: read statuses and return what a run would do, changing nothing.

    Returns:
        The plan's JSON: each item's status and route, and the request count.
    """
    job = make_job("plan", kind, ids=ids, selection=selection, target=target)
    return _run(job, resource_group, profile, service_key_secret)


def _run(
    job: Job, resource_group: str | None, profile: str | None, secret: str | None
) -> dict[str, Any]:
    log = get_run_logger()
    client: Callable[[], BulkClient]
    if secret is None:

        def client() -> BulkClient:
            return client_from_environment(resource_group=resource_group, profile=profile)

    else:
        # load() is typed for async callers too; a sync task always gets the block itself
        # (an async flow's loop thread included: Prefect dispatches on its own context).
        key = cast("Secret[Any]", Secret.load(secret)).get()
        group = resource_group or os.environ.get("AICORE_RESOURCE_GROUP")

        def client() -> BulkClient:
            return client_from_service_key(key, resource_group=group)

    result, _ = run(job, client, log=log)
    if isinstance(result, Report):
        # Logged already: the summary and the failed items.
        result.raise_for_failures()
    return result.to_json()
