"""What the orchestrator integrations share: the job, the settings, the run and its log lines.

Framework-free on purpose: the main test suite covers all of it without Prefect or Airflow
installed, and :mod:`~aicore_bulk.integrations.prefect` and
:mod:`~aicore_bulk.integrations.airflow` only adapt it to their framework.
Like the command line, it uses the public API only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Final, Literal, Protocol, TypeVar

import attrs

from aicore_bulk import (
    BulkClient,
    ConfigurationError,
    Event,
    InputError,
    ItemSettled,
    Kind,
    PhaseDone,
    Plan,
    PlanReady,
    Report,
    Route,
    Selection,
    Status,
)

T = TypeVar("T")

Action = Literal["delete", "stop", "plan"]
ACTIONS: Final[tuple[Action, ...]] = ("delete", "stop", "plan")
Target = Literal["DELETED", "STOPPED"]
_KINDS: Final[tuple[Kind, ...]] = ("executions", "deployments")
_TARGETS: Final[tuple[Target, ...]] = ("DELETED", "STOPPED")

#: A :class:`~aicore_bulk.Selection`, or its fields as plain JSON (what a flow parameter, an
#: Airflow template or a DAG's serialized arguments can carry).
SelectionLike = Selection | Mapping[str, Any]
_SELECTION_FIELDS: Final = frozenset(field.name for field in attrs.fields(Selection))

#: Routes that send a change; ``max_items`` counts these, as ``--max-items`` does.
_CHANGING: Final = (Route.DELETE, Route.STOP, Route.STOP_THEN_DELETE, Route.WAIT_THEN_DELETE)
#: Failed items named one per log line; the rest are counted (the report has them all).
_NAMED_FAILURES: Final = 20
#: Progress lines per run besides the plan and the summary: one per tenth of the items.
_PROGRESS_STEPS: Final = 10

#: What an Airflow connection's extra may hold besides a whole service key.
_EXTRA_KEYS: Final = ("auth_url", "resource_group")


class RunLog(Protocol):
    """The part of a logger the integrations write to.

    :class:`logging.Logger`, Prefect's run logger and Airflow's task logger all fit.
    """

    def info(self, msg: str, /, *args: object) -> None:
        """Log a line at INFO."""

    def warning(self, msg: str, /, *args: object) -> None:
        """Log a line at WARNING."""


@attrs.frozen(kw_only=True)
class Job:
    """One run an orchestrator task asks for, checked before anything is sent.

    Build it with :func:`make_job`, which turns the loose values of a task's arguments
    into checked ones.
    """

    action: Action
    kind: Kind
    ids: tuple[str, ...] | None
    selection: Selection | None
    target: Target = "DELETED"
    max_items: int | None = None
    deadline: float | None = None


def make_job(
    action: str,
    kind: str,
    *,
    ids: Iterable[str] | None = None,
    selection: SelectionLike | None = None,
    target: str = "DELETED",
    max_items: int | None = None,
    deadline: float | None = None,
) -> Job:
    """A checked :class:`Job`.

    Raises:
        InputError: An unknown action, kind or target, neither or both of ``ids`` and
            ``selection``, a selection that filters nothing, or a bad ``max_items``.
    """
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r}: use 'delete', 'stop' or 'plan'")
    if kind not in _KINDS:
        raise InputError(f"unknown kind {kind!r}: use 'executions' or 'deployments'")
    if target not in _TARGETS:
        raise InputError(f"unknown target {target!r}: use 'DELETED' or 'STOPPED'")
    if (ids is None) == (selection is None):
        raise InputError("give either ids or a selection, not both and not neither")
    if isinstance(ids, str | bytes):
        # A template that rendered to text, or one ID without its list.
        raise InputError(
            "ids must be a list of IDs, not one string (an Airflow template renders to text "
            "unless the DAG sets render_template_as_native_obj=True)"
        )
    if max_items is not None and not _count(max_items):
        raise InputError(f"max_items must be a whole number >= 0, got {max_items!r}")
    return Job(
        action=action,
        kind=kind,
        ids=None if ids is None else tuple(ids),
        selection=None if selection is None else selection_from(selection),
        target=target,
        max_items=max_items,
        deadline=deadline,
    )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def selection_from(value: SelectionLike) -> Selection:
    """A :class:`Selection` from itself or from its fields as JSON.

    ``{"statuses": ["COMPLETED", "DEAD"], "older_than": 2592000}`` takes what
    ``Selection(statuses=(Status.COMPLETED, Status.DEAD), older_than=2592000)`` takes.

    Raises:
        InputError: An unknown field or status, a value of the wrong type, or a selection
            that filters nothing (it would take every item of the resource group).
    """
    if isinstance(value, Selection):
        selection = value
    elif isinstance(value, Mapping):
        selection = _selection_from_json(value)
    else:
        raise InputError(
            f"selection must be a Selection or a mapping of its fields, not {type(value).__name__}"
        )
    if selection.filters_nothing:
        raise InputError(
            "the selection filters nothing and would take every item of the resource group: "
            "give statuses, scenario_id, executable_ids, configuration_id or older_than"
        )
    return selection


def _selection_from_json(fields: Mapping[str, Any]) -> Selection:
    unknown = sorted(set(fields) - _SELECTION_FIELDS)
    if unknown:
        raise InputError(
            f"unknown selection field(s) {', '.join(map(repr, unknown))}: "
            f"use {', '.join(sorted(_SELECTION_FIELDS))}"
        )
    values = dict(fields)
    if "statuses" in values:
        values["statuses"] = tuple(_status(text) for text in _list("statuses", values["statuses"]))
    if "executable_ids" in values:
        values["executable_ids"] = tuple(_list("executable_ids", values["executable_ids"]))
    older = values.get("older_than")
    if older is not None and (
        not isinstance(older, int | float) or isinstance(older, bool) or not math.isfinite(older)
    ):
        raise InputError(f"older_than must be a number of seconds, got {older!r}")
    return Selection(**values)


def _list(name: str, value: object) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InputError(f"{name} must be a list, got {value!r}")
    return list(value)


def _status(text: Any) -> Status:  # noqa: ANN401 - whatever the JSON held
    try:
        return Status(text)
    except ValueError:
        names = ", ".join(status.value for status in Status)
        raise InputError(f"unknown status {text!r}: use {names}") from None


# --- settings -------------------------------------------------------------------------------


def client_from_environment(
    *, resource_group: str | None = None, profile: str | None = None
) -> BulkClient:
    """A client configured as :meth:`BulkClient.from_env` reads settings.

    ``AICORE_*`` variables, ``AICORE_SERVICE_KEY``, the config file (or ``profile``'s) and
    ``VCAP_SERVICES``; ``resource_group`` overrides what they say.
    """
    explicit: dict[str, Any] = {} if resource_group is None else {"resource_group": resource_group}
    return BulkClient.from_env(profile=profile, **explicit)


def client_from_connection(
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    resource_group: str | None = None,
) -> BulkClient:
    """A client configured by the fields of a connection (Airflow's) and nothing else.

    ``host`` is the AI API URL, ``login`` the client id, ``password`` the client secret.
    ``extra`` holds either ``auth_url`` (and ``resource_group``), or a whole service key
    (recognised by its ``clientid``; ``resource_group`` may sit beside its fields). Fields
    set on the connection win over the service key's. No ``AICORE_*`` variable, config file
    or binding of the machine is read: the connection is the whole truth.

    Raises:
        ConfigurationError: An unknown key in ``extra``, or settings that are missing or
            in conflict (the message never holds a secret).
    """
    fields = dict(extra)
    # Beside a service key's fields, never inside the key it hands on.
    group = fields.pop("resource_group", None)
    group = resource_group or group
    environ: dict[str, str] = {}
    if "clientid" in fields:
        environ["AICORE_SERVICE_KEY"] = json.dumps(fields)
        auth_url = None
    else:
        unknown = sorted(set(fields) - set(_EXTRA_KEYS))
        if unknown:
            raise ConfigurationError(
                f"unknown key(s) {', '.join(map(repr, unknown))} in the connection's extra: "
                f"use {', '.join(_EXTRA_KEYS)}, or paste a whole service key"
            )
        auth_url = fields.get("auth_url")
    explicit: dict[str, Any] = {
        "base_url": host,
        "client_id": login,
        "client_secret": password,
        "auth_url": auth_url,
        "resource_group": group,
    }
    return BulkClient.from_env(
        environ=environ,
        use_files=False,
        **{name: value for name, value in explicit.items() if value},
    )


def client_from_service_key(
    key: str | Mapping[str, Any], *, resource_group: str | None
) -> BulkClient:
    """A client configured by a service key (a secret store's) and a resource group only.

    Raises:
        ConfigurationError: The key is incomplete or malformed, or no resource group.
    """
    text = key if isinstance(key, str) else json.dumps(dict(key))
    explicit: dict[str, Any] = {} if resource_group is None else {"resource_group": resource_group}
    return BulkClient.from_env(environ={"AICORE_SERVICE_KEY": text}, use_files=False, **explicit)


# --- the run --------------------------------------------------------------------------------


def run(job: Job, client: Callable[[], BulkClient], *, log: RunLog) -> tuple[Report | Plan, str]:
    """Run ``job`` with a client from ``client()``, logging as it goes; closes the client.

    Returns:
        The report (the plan for ``plan``) and the resource group it ran in.
        Failed items do not raise here: the caller decides how its framework fails.
    """

    async def main() -> tuple[Report | Plan, str]:
        # Built inside the loop that will use it: its connections belong to that loop.
        async with client() as opened:
            return await run_job(opened, job, log=log), opened.resource_group

    return run_sync(main())


async def run_job(client: BulkClient, job: Job, *, log: RunLog) -> Report | Plan:
    """Run ``job`` with ``client``: progress lines as it goes, then a summary."""
    group = client.resource_group
    listener = ProgressLog(log, resource_group=group)
    ids = client.select(job.kind, job.selection) if job.selection is not None else job.ids or ()
    if job.action == "plan":
        plan = await client.plan(job.kind, ids, target=job.target, listener=listener)
        log_plan(log, plan, resource_group=group)
        return plan
    change = client.delete if job.action == "delete" else client.stop
    report = await change(
        job.kind,
        ids,
        deadline=job.deadline,
        confirm=None if job.max_items is None else _capped(job.max_items, log),
        listener=listener,
    )
    log_report(log, report, resource_group=group)
    return report


def _capped(max_items: int, log: RunLog) -> Callable[[Plan], bool]:
    def confirm(plan: Plan) -> bool:
        changing = changing_items(plan)
        if changing > max_items:
            log.warning(
                "aicore-bulk: refusing: the run would change %d %s, more than max_items %d",
                changing,
                plan.kind,
                max_items,
            )
            return False
        return True

    return confirm


def changing_items(plan: Plan) -> int:
    """How many items the plan would change (what ``max_items`` and ``--max-items`` count)."""
    return sum(plan.paths.get(route, 0) for route in _CHANGING)


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on a fresh event loop; in a worker thread if this thread runs one already.

    A synchronous task called from an async Prefect flow runs on the flow's loop thread,
    where ``asyncio.run`` is refused.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aicore-bulk") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def summary_of(result: Report | Plan, *, resource_group: str) -> dict[str, Any]:
    """The result's JSON without its items or kept ones (small for an XCom), and the group."""
    if isinstance(result, Report):
        data = {
            "kind": result.kind,
            "target": result.target.value,
            "summary": result.summary.to_json(),
        }
    else:
        # As for a report: the counts of the whole run (its per-group counts are left out).
        data = {
            key: value
            for key, value in result.to_json().items()
            if key not in {"items", "kept", "groups"}
        }
    return {**data, "resource_group": resource_group}


# --- log lines ------------------------------------------------------------------------------


class ProgressLog:
    """A listener that writes a run's progress as a few log lines.

    The plan, then each tenth of the items settled, then the end of each phase: enough to
    follow a long run in an orchestrator's log view, without a line per item.
    """

    def __init__(self, log: RunLog, *, resource_group: str) -> None:
        self._log = log
        self._group = resource_group
        self._total = 0
        self._settled = 0
        self._next = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, PlanReady):
            self._total = event.total
            self._next = self._step()
            self._log.info(
                "aicore-bulk: %s -> %s in resource group %s: %d items (%s); "
                "change requests planned: %d",
                event.kind,
                event.target.value,
                self._group,
                event.total,
                _counts(event.paths) or "none",
                event.requests,
            )
        elif isinstance(event, ItemSettled):
            self._settled += 1
            if self._total and self._settled >= self._next:
                self._next += self._step()
                self._log.info(
                    "aicore-bulk: %d of %d settled (%d%%)",
                    self._settled,
                    self._total,
                    100 * self._settled // self._total,
                )
        elif isinstance(event, PhaseDone):
            self._log.info("aicore-bulk: %s done", event.phase)

    def _step(self) -> int:
        return max(1, math.ceil(self._total / _PROGRESS_STEPS))


def log_report(log: RunLog, report: Report, *, resource_group: str) -> None:
    """One summary line; then, when items failed, a line for each of the first twenty."""
    summary = report.summary
    log.info(
        "aicore-bulk: %s -> %s in resource group %s: %s; requests: %d (changes: %d), "
        "retries: %d, throttled: %d, %.1f s%s",
        report.kind,
        report.target.value,
        resource_group,
        _counts({outcome.value: n for outcome, n in summary.outcomes.items()}) or "no items",
        summary.requests,
        summary.mutating_requests,
        summary.retries,
        summary.throttled,
        summary.seconds,
        ", interrupted" if summary.interrupted else "",
    )
    bad = [item for item in report.items if not item.outcome.ok]
    for item in bad[:_NAMED_FAILURES]:
        log.warning(
            "aicore-bulk: %s %s (code %s): %s",
            item.id,
            item.outcome.value,
            item.code or "none",
            item.message or "no message",
        )
    if len(bad) > _NAMED_FAILURES:
        log.warning(
            "aicore-bulk: and %d more not ok; the report has them all", len(bad) - _NAMED_FAILURES
        )


def log_plan(log: RunLog, plan: Plan, *, resource_group: str) -> None:
    """One line after the plan's own: what a run would change, and that nothing was."""
    log.info(
        "aicore-bulk: dry run in resource group %s: a run would change %d %s "
        "(requests: %d); nothing was changed",
        resource_group,
        changing_items(plan),
        plan.kind,
        plan.requests,
    )


def _counts(counts: Mapping[Route, int] | Mapping[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n)
