"""What a run did (the report) or would do (the plan), as values.

The report holds every requested ID exactly once, with what happened to it, and a summary.

Its JSON form is a contract (the CLI prints it and orchestrators parse it)::

    {
      "kind": "executions", "target": "DELETED",
      "run": {"id": "20260101T000000Z-5f0c2a9e41d7", "resumes": null,
              "tool_version": "0.1.0", "base_url": "https://api.ai.example.com/v2",
              "resource_group": "default", "resource_groups": ["default"],
              "kind": "executions", "target": "DELETED",
              "started_at": "2026-01-01T00:00:00.000Z",
              "finished_at": "2026-01-01T00:00:04.200Z", "interrupted": false,
              "options": {"concurrency": 64, "rate": null, "adaptive": true,
                          "attempts": 6, "request_timeout": 30.0, "deadline": null,
                          "stop_wait": 600.0, "poll_interval": 2.0, "page_size": 100000,
                          "batch_wait": 10.0, "grace": 5.0, "journal": null,
                          "labels": {"max_items": "5000"}}},
      "summary": {"total": 3, "ok": true,
                  "outcomes": {"deleted": 2, "already_absent": 1, ...every outcome...},
                  "requests": 5, "mutating_requests": 2, "retries": 0, "throttled": 0,
                  "duplicates": 1, "seconds": 1.23, "interrupted": false,
                  "carried_over": 0, "kept": 0},
      "groups": {"default": {...the summary's fields, for this group's items...}},
      "items": [{"id": "e1", "outcome": "deleted", "code": null, "message": "...",
                 "attempts": 1, "status": "COMPLETED", "resource_group": "default"}, ...]
    }

A run across resource groups has one entry per group in ``groups`` (its ``requests`` count
what was sent in that group; the total's also count listing the groups), ``run.resource_groups``
names them all, and ``run.resource_group`` joins them with commas.

``run`` is the audit trail (:class:`RunInfo`): which run this was (its ID is also on every
log record of the run, as ``run_id``), which version of the tool against which service and
resource group, when it started and finished (UTC, from the run's clock), and the options
that shaped it. A resumed run has an ID of its own and names the run it resumes in
``resumes``. ``base_url`` never holds credentials. ``labels`` are the caller's own notes
(the command line records its selection and ``--max-items`` there).

Items a selection keeps (``Selection(keep_latest=N)``) were never chosen for a change: they
are not in ``items`` (which holds what the run was given) and never count as failures;
``summary.kept`` counts them, as ``summary.duplicates`` counts repeated IDs, and the plan
lists each with the reason it is kept (:class:`KeptItem`).

Fields are only ever added, never renamed or removed, within a major version.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from aicore_bulk._errors import BulkError
from aicore_bulk._logging import plural
from aicore_bulk._models import Kind, Outcome, Route, Status, Target


@attrs.frozen(kw_only=True)
class RunSettings:
    """The options that shaped a run, as the audit trail records them.

    Attributes:
        concurrency, rate, adaptive: The client's :class:`~aicore_bulk.Limits`.
        attempts, request_timeout: From its :class:`~aicore_bulk.RetryPolicy`.
        deadline: The run's deadline in seconds (None: none).
        stop_wait, poll_interval, page_size, batch_wait, grace: The client's
            :class:`~aicore_bulk.RunOptions`.
        journal: The journal's path, if the run kept one.
        labels: The caller's own notes (``labels=`` of ``delete``, ``stop`` and ``resume``).

    """

    concurrency: int
    rate: float | None
    adaptive: bool
    attempts: int
    request_timeout: float
    deadline: float | None
    stop_wait: float
    poll_interval: float
    page_size: int
    batch_wait: float
    grace: float
    journal: str | None = None
    labels: Mapping[str, str] = attrs.field(factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form: every field, ``labels`` as an object."""
        data = attrs.asdict(self, recurse=False)
        data["labels"] = dict(self.labels)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSettings:
        """Read :meth:`to_json`'s form back (a journal's record of its run)."""
        known = {name: data[name] for name in attrs.fields_dict(cls) if name in data}
        known["labels"] = MappingProxyType(dict(known.get("labels") or {}))
        return cls(**known)


@attrs.frozen(kw_only=True)
class RunInfo:
    """The audit trail of one run: which run, by what, against what, when, and how.

    Attributes:
        id: Unique per run, and sortable by start time (``20260101T000000Z-5f0c2a9e41d7``);
            every log record of the run carries it as ``run_id``.
        resumes: The ID of the run this one resumes (from its journal), or None.
        tool_version: aicore-bulk's version.
        base_url: The AI API's URL (credentials, a query or a fragment are never kept).
        resource_group: The resource group the run worked in (several: joined by commas).
        resource_groups: Every resource group the run worked in, in order.
        kind, target: What the run did.
        started_at, finished_at: UTC, read from the run's clock (``finished_at`` is None in a
            journal, written before the run ends).
        interrupted: The run was interrupted.
        options: The options that shaped the run.

    """

    id: str
    tool_version: str
    base_url: str
    resource_group: str
    kind: Kind
    target: Target
    started_at: dt.datetime
    options: RunSettings
    finished_at: dt.datetime | None = None
    interrupted: bool = False
    resumes: str | None = None
    resource_groups: tuple[str, ...] = attrs.field(
        default=attrs.Factory(lambda info: (info.resource_group,), takes_self=True)
    )

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (see the module docstring)."""
        return {
            "id": self.id,
            "resumes": self.resumes,
            "tool_version": self.tool_version,
            "base_url": self.base_url,
            "resource_group": self.resource_group,
            "resource_groups": list(self.resource_groups),
            "kind": self.kind,
            "target": self.target.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at) if self.finished_at is not None else None,
            "interrupted": self.interrupted,
            "options": self.options.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        """Read :meth:`to_json`'s form back (a journal's record of its run)."""
        finished = data.get("finished_at")
        return cls(
            id=data["id"],
            resumes=data.get("resumes"),
            tool_version=data["tool_version"],
            base_url=data["base_url"],
            resource_group=data["resource_group"],
            resource_groups=tuple(data.get("resource_groups") or (data["resource_group"],)),
            kind=data["kind"],
            target=Target(data["target"]),
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            finished_at=dt.datetime.fromisoformat(finished) if finished else None,
            interrupted=bool(data.get("interrupted", False)),
            options=RunSettings.from_json(data["options"]),
        )


def _iso(moment: dt.datetime) -> str:
    """ISO 8601 in UTC, to the millisecond, with ``Z``."""
    text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


@attrs.frozen
class PlannedItem:
    """One item of a dry run: its status and what a real run would do."""

    id: str
    status: Status | None
    path: Route
    reason: str | None
    resource_group: str | None = None


@attrs.frozen
class KeptItem:
    """One item a selection keeps (``keep_latest``), and why: nothing is done to it.

    Attributes:
        id: The item's ID.
        status: The status it was listed with.
        reason: Why it is kept ("one of the 3 newest of configuration cfg-7").

    """

    id: str
    status: Status | None
    reason: str


def route_counts(counts: Mapping[Route, int]) -> Mapping[Route, int]:
    """Items per route with every route present, read-only (the shape of :attr:`Plan.paths`)."""
    return MappingProxyType({route: counts.get(route, 0) for route in Route})


@attrs.frozen(kw_only=True)
class Plan:
    """What a run would do, learned by reading only.

    Attributes:
        paths: Items per :class:`Route` (every route present, zeros included), as
            :attr:`Summary.outcomes` counts items per :class:`Outcome`.
        requests: The fewest mutating requests the run needs with no faults.
        reads: Requests this dry run spent reading.
        kept: The items the selection keeps (``keep_latest``), each with its reason; they
            are not in ``items`` and no run changes them.
        groups: The plan of each resource group, by name (one entry for a run in one group).

    """

    kind: Kind
    target: Target
    items: tuple[PlannedItem, ...]
    paths: Mapping[Route, int]
    requests: int
    reads: int
    duplicates: int
    kept: tuple[KeptItem, ...] = ()
    groups: Mapping[str, Plan] = attrs.field(factory=lambda: MappingProxyType({}))

    def __repr__(self) -> str:
        # One line, however many items: they stay in ``items`` and in the JSON.
        paths = ", ".join(f"{path} {n:,}" for path, n in self.paths.items() if n)
        return (
            f"<Plan {self.kind} {self.target.value}: {plural(len(self.items), 'item')}"
            + (f" ({paths})" if paths else "")
            + (f", {len(self.kept):,} kept" if self.kept else "")
            + f", {plural(self.requests, 'change request')}, {plural(self.reads, 'read')}>"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON form like the report's."""
        return {
            "kind": self.kind,
            "target": self.target.value,
            "dry_run": True,
            "summary": self.summary_json(),
            "groups": {name: plan.summary_json() for name, plan in self.groups.items()},
            "items": [
                {
                    "id": i.id,
                    "status": _STATUS_TEXT[i.status],
                    "path": i.path.value,
                    "reason": i.reason,
                    "resource_group": i.resource_group,
                }
                for i in self.items
            ],
            "kept": [
                {"id": k.id, "status": _STATUS_TEXT[k.status], "reason": k.reason}
                for k in self.kept
            ],
        }

    def summary_json(self) -> dict[str, Any]:
        """The counts of :meth:`to_json`, without the items."""
        return {
            "total": len(self.items),
            "paths": {route.value: self.paths.get(route, 0) for route in Route},
            "requests": self.requests,
            "reads": self.reads,
            "duplicates": self.duplicates,
            "kept": len(self.kept),
        }


@attrs.frozen
class ItemResult:
    """What happened to one ID.

    Attributes:
        id: The ID as given.
        outcome: What happened.
        code: The service's error code, when it refused (or ``None``).
        message: The service's message, or ours when nothing was sent.
        attempts: How many mutating requests carried this item.
        status: The last status we saw (``None`` if never seen).
        resource_group: The resource group the item is in.

    """

    id: str
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    attempts: int = 0
    status: Status | None = None
    resource_group: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The item's documented JSON form."""
        return {
            "id": self.id,
            "outcome": self.outcome.value,
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "status": _STATUS_TEXT[self.status],
            "resource_group": self.resource_group,
        }


@attrs.frozen(kw_only=True)
class Summary:
    """Counts of a run.

    Attributes:
        outcomes: Items per outcome (every outcome present, zeros included).
        requests: Every request sent, reads included (token fetches excluded).
        mutating_requests: Stops, deletes and bulk changes sent.
        retries: Requests sent again after a retryable failure.
        throttled: 429 answers received.
        duplicates: Repeated IDs in the input (each reported once).
        seconds: Wall time of the run, without the time its ``confirm`` callback took.

    """

    outcomes: Mapping[Outcome, int]
    requests: int
    mutating_requests: int
    retries: int
    throttled: int
    duplicates: int
    seconds: float
    #: The run was interrupted; items never sent are ``skipped``, others still open are
    #: ``unknown`` or ``failed``.
    interrupted: bool = False
    #: Items a resume took as an earlier session's journal recorded them (sent nothing).
    carried_over: int = 0
    #: Items the selection kept (``keep_latest``): never chosen, so not in the report's items.
    kept: int = 0

    @property
    def total(self) -> int:
        """Distinct IDs in the report."""
        return sum(self.outcomes.values())

    def to_json(self) -> dict[str, Any]:
        """The summary's documented JSON form."""
        return {
            "total": self.total,
            "ok": all(n == 0 for outcome, n in self.outcomes.items() if not outcome.ok),
            "outcomes": {outcome.value: self.outcomes.get(outcome, 0) for outcome in Outcome},
            "requests": self.requests,
            "mutating_requests": self.mutating_requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "duplicates": self.duplicates,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "carried_over": self.carried_over,
            "kept": self.kept,
        }


@attrs.frozen
class Report:
    """Every requested ID exactly once, with what happened to it, and a summary.

    Attributes:
        run: The run's audit trail (ID, version, service, times, options); None only for a
            report built by hand.
        groups: The summary of each resource group's items, by name (one entry for a run
            in one group); :attr:`summary` is the total.

    """

    kind: Kind
    target: Target
    items: tuple[ItemResult, ...]
    summary: Summary
    run: RunInfo | None = None
    groups: Mapping[str, Summary] = attrs.field(factory=lambda: MappingProxyType({}))

    def __repr__(self) -> str:
        # One line, however many items: they stay in ``items`` and in the JSON.
        s = self.summary
        counts = "".join(f", {n:,} {outcome.value}" for outcome, n in s.outcomes.items() if n)
        return (
            f"<Report {self.kind} {self.target.value}: {plural(s.total, 'item')}{counts}, "
            f"{plural(s.requests, 'request')}, {s.seconds:.1f} s"
            + (", interrupted" if s.interrupted else "")
            + ">"
        )

    @classmethod
    def build(
        cls,
        *,
        kind: Kind,
        target: Target,
        items: tuple[ItemResult, ...],
        requests: int,
        mutating_requests: int,
        retries: int,
        throttled: int,
        duplicates: int,
        seconds: float,
        interrupted: bool = False,
        carried_over: int = 0,
        kept: int = 0,
        run: RunInfo | None = None,
        groups: Mapping[str, Summary] | None = None,
    ) -> Report:
        """Assemble a report and count its outcomes.

        Without ``groups``, a run's report (``run`` given) gets one entry: its group's,
        which is the total.
        """
        summary = Summary(
            outcomes=count_outcomes(items),
            requests=requests,
            mutating_requests=mutating_requests,
            retries=retries,
            throttled=throttled,
            duplicates=duplicates,
            seconds=seconds,
            interrupted=interrupted,
            carried_over=carried_over,
            kept=kept,
        )
        if groups is None:
            groups = {run.resource_group: summary} if run is not None else {}
        return cls(kind, target, items, summary, run, MappingProxyType(dict(groups)))

    @property
    def ok(self) -> bool:
        """True when every item reached its goal or needed nothing."""
        # From the summary's counts of the items: a walk over a million items costs 0.3 s.
        return all(n == 0 for outcome, n in self.summary.outcomes.items() if not outcome.ok)

    def __iter__(self) -> Iterator[ItemResult]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def by_outcome(self, outcome: Outcome) -> tuple[ItemResult, ...]:
        """The items with this outcome, in input order."""
        return tuple(item for item in self.items if item.outcome is outcome)

    def raise_for_failures(self) -> Report:
        """Raise :class:`ItemsFailedError` unless :attr:`ok`; return the report otherwise."""
        if not self.ok:
            raise ItemsFailedError(self)
        return self

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (see the module docstring)."""
        return {
            "kind": self.kind,
            "target": self.target.value,
            "run": self.run.to_json() if self.run is not None else None,
            "summary": self.summary.to_json(),
            "groups": {name: summary.to_json() for name, summary in self.groups.items()},
            "items": [item.to_json() for item in self.items],
        }


def count_outcomes(items: Iterable[ItemResult]) -> Mapping[Outcome, int]:
    """Items per outcome, every outcome present (the shape of :attr:`Summary.outcomes`)."""
    counts = Counter(item.outcome for item in items)
    return MappingProxyType({outcome: counts.get(outcome, 0) for outcome in Outcome})


#: Each status's plain text: the JSON form holds strings, not enum members (a dict lookup is
#: cheaper than ``.value``, and a report may hold a million items).
_STATUS_TEXT: Final[dict[Status | None, str | None]] = {None: None} | {s: s.value for s in Status}


class ItemsFailedError(BulkError):
    """Some items did not reach their goal; raised by :meth:`Report.raise_for_failures`.

    Attributes:
        report: The whole report.

    """

    def __init__(self, report: Report) -> None:
        bad = {
            outcome.value: n
            for outcome, n in report.summary.outcomes.items()
            if n and not outcome.ok
        }
        super().__init__(
            f"{sum(bad.values())} of {report.summary.total} {report.kind} did not reach "
            f"{report.target.value}: " + ", ".join(f"{n} {name}" for name, n in bad.items())
        )
        self.report = report
