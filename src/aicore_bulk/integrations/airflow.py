"""An Airflow 3 operator that deletes, stops or plans: ``pip install 'aicore-bulk[airflow]'``.

It needs only Airflow's task SDK (``airflow.sdk``), as Airflow 3 workers run it::

    from aicore_bulk.integrations.airflow import AICoreBulkOperator

    cleanup = AICoreBulkOperator(
        task_id="cleanup",
        kind="executions",
        selection={"statuses": ["COMPLETED", "DEAD"], "older_than": 30 * 86_400},
        conn_id="aicore",
    )

Settings:
    With ``conn_id``, the Airflow connection is the whole truth: ``host`` is the AI API URL
    (``https://api.ai.<region>...``), ``login`` the client id, ``password`` the client
    secret, and ``extra`` holds ``{"auth_url": ..., "resource_group": ...}``; or paste a
    whole service key as ``extra`` (``resource_group`` may sit beside its fields).
    Without ``conn_id``, settings are read as :meth:`aicore_bulk.BulkClient.from_env` reads
    them (``AICORE_*``, ``AICORE_SERVICE_KEY``, the config file). The ``resource_group``
    argument wins over both.

Results:
    The return value (the ``return_value`` XCom) is the report's JSON without its items:
    ``{"kind", "target", "summary", "resource_group"}``; for ``action="plan"`` the plan's.

Failures:
    When any item did not reach its goal, the operator logs the summary and the failed
    items, pushes the same value under the XCom key ``summary``, then raises
    :class:`aicore_bulk.ItemsFailedError`: the task fails, and Airflow's own ``retries``
    apply (a retry plans afresh; what was done already counts as ``already_absent``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from airflow.sdk import BaseOperator, Connection, Context

from aicore_bulk import BulkClient, InputError, ItemsFailedError, Kind, Report
from aicore_bulk.integrations._common import (
    ACTIONS,
    Action,
    SelectionLike,
    client_from_connection,
    client_from_environment,
    make_job,
    run,
    summary_of,
)

__all__ = ["AICoreBulkOperator"]


class AICoreBulkOperator(BaseOperator):
    """Delete, stop or plan AI Core executions or deployments in bulk.

    Args:
        action: ``"delete"`` (stopping first what must stop), ``"stop"``, or ``"plan"``
            (a dry run of ``target``).
        kind: ``"executions"`` or ``"deployments"``.
        ids: The IDs (a list, or an upstream task's output); or give ``selection``.
        selection: A :class:`~aicore_bulk.Selection` or its fields as a dict
            (``{"statuses": ["DEAD"], "older_than": 604800}``).
        target: What ``action="plan"`` plans for: ``"DELETED"`` or ``"STOPPED"``.
        conn_id: An Airflow connection with the credentials (see the module's docstring);
            ``None`` reads ``AICORE_*`` settings.
        resource_group: The resource group; wins over the connection's and the settings'.
        max_items: Refuse (raise :class:`~aicore_bulk.RunDeclinedError`, nothing changed)
            when the run would change more items than this.
        deadline: Seconds for the whole run.
        **kwargs: What every Airflow operator takes (``task_id``, ``retries``...).

    """

    template_fields: Sequence[str] = ("kind", "ids", "selection", "resource_group", "conn_id")

    def __init__(
        self,
        *,
        action: Action = "delete",
        kind: Kind = "executions",
        ids: Iterable[str] | None = None,
        selection: SelectionLike | None = None,
        target: Literal["DELETED", "STOPPED"] = "DELETED",
        conn_id: str | None = None,
        resource_group: str | None = None,
        max_items: int | None = None,
        deadline: float | None = None,
        **kwargs: Any,  # noqa: ANN401 - BaseOperator's own arguments
    ) -> None:
        super().__init__(**kwargs)
        if action not in ACTIONS:
            # At parse time, so a DAG with a typo never loads.
            raise InputError(f"unknown action {action!r}: use 'delete', 'stop' or 'plan'")
        self.action = action
        self.kind = kind
        self.ids = ids
        self.selection = selection
        self.target = target
        self.conn_id = conn_id
        self.resource_group = resource_group
        self.max_items = max_items
        self.deadline = deadline

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the action; return the summary (or raise when items failed)."""
        job = make_job(
            self.action,
            self.kind,
            ids=self.ids,
            selection=self.selection,
            target=self.target,
            max_items=self.max_items,
            deadline=self.deadline,
        )
        result, group = run(job, self._client(), log=self.log)
        summary = summary_of(result, resource_group=group)
        if isinstance(result, Report) and not result.ok:
            context["ti"].xcom_push(key="summary", value=summary)
            raise ItemsFailedError(result)
        return summary

    def _client(self) -> Callable[[], BulkClient]:
        group = self.resource_group
        if self.conn_id is None:
            return lambda: client_from_environment(resource_group=group)
        connection = Connection.get(self.conn_id)
        host, login, password = connection.host, connection.login, connection.password
        extra = connection.extra_dejson
        return lambda: client_from_connection(
            host=host, login=login, password=password, extra=extra, resource_group=group
        )
