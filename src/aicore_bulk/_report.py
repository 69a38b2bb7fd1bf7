"""What a run did (the report) or would do (the plan), as values.

The report holds every requested ID exactly once, with what happened to it, and a summary.

Its JSON form is a contract (the CLI prints it and orchestrators parse it)::

    {
      "kind": "executions", "target": "DELETED",
      "summary": {"total": 3, "ok": true,
                  "outcomes": {"deleted": 2, "already_absent": 1, ...every outcome...},
                  "requests": 5, "mutating_requests": 2, "retries": 0, "throttled": 0,
                  "duplicates": 1, "seconds": 1.23, "interrupted": false,
                  "carried_over": 0},
      "items": [{"id": "e1", "outcome": "deleted", "code": null, "message": "...",
                 "attempts": 1, "status": "COMPLETED"}, ...]
    }

Fields are only ever added, never renamed or removed, within a major version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from aicore_bulk._errors import BulkError
from aicore_bulk._models import Kind, Outcome, Route, Target


@attrs.frozen
class PlannedItem:
    """One item of a dry run: its status and what a real run would do."""

    id: str
    status: str | None
    path: Route
    reason: str | None


@attrs.frozen(kw_only=True)
class Plan:
    """What a run would do, learned by reading only.

    Attributes:
        paths: Items per route (``delete``, ``stop_then_delete``, ``wait_then_delete``,
            ``stop``, ``unchanged``, ``absent``, ``skip``, ``deleting``).
        requests: The fewest mutating requests the run needs with no faults.
        reads: Requests this dry run spent reading.

    """

    kind: Kind
    target: Target
    items: tuple[PlannedItem, ...]
    paths: Mapping[str, int]
    requests: int
    reads: int
    duplicates: int

    def to_json(self) -> dict[str, Any]:
        """A JSON form like the report's."""
        return {
            "kind": self.kind,
            "target": self.target.value,
            "dry_run": True,
            "summary": {
                "total": len(self.items),
                "paths": dict(self.paths),
                "requests": self.requests,
                "reads": self.reads,
                "duplicates": self.duplicates,
            },
            "items": [
                {"id": i.id, "status": i.status, "path": i.path.value, "reason": i.reason}
                for i in self.items
            ],
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

    """

    id: str
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    attempts: int = 0
    status: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The item's documented JSON form."""
        return {
            "id": self.id,
            "outcome": self.outcome.value,
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "status": self.status,
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
        seconds: Wall time of the run.

    """

    outcomes: Mapping[Outcome, int]
    requests: int
    mutating_requests: int
    retries: int
    throttled: int
    duplicates: int
    seconds: float
    #: The run was interrupted; unsettled items are ``unknown`` or ``failed``.
    interrupted: bool = False
    #: Items a resume took as an earlier session's journal recorded them (sent nothing).
    carried_over: int = 0

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
        }


@attrs.frozen
class Report:
    """Every requested ID exactly once, with what happened to it, and a summary."""

    kind: Kind
    target: Target
    items: tuple[ItemResult, ...]
    summary: Summary

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
    ) -> Report:
        """Assemble a report and count its outcomes."""
        counts = Counter(item.outcome for item in items)
        summary = Summary(
            outcomes=MappingProxyType({outcome: counts.get(outcome, 0) for outcome in Outcome}),
            requests=requests,
            mutating_requests=mutating_requests,
            retries=retries,
            throttled=throttled,
            duplicates=duplicates,
            seconds=seconds,
            interrupted=interrupted,
            carried_over=carried_over,
        )
        return cls(kind, target, items, summary)

    @property
    def ok(self) -> bool:
        """True when every item reached its goal or needed nothing."""
        return all(item.outcome.ok for item in self.items)

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
            "summary": self.summary.to_json(),
            "items": [item.to_json() for item in self.items],
        }


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
