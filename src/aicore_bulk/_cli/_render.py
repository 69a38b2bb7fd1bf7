"""The human summary at the end of a run, and the dry run's table."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Final

from aicore_bulk import Plan, Report, Route

_PATH_LABELS: Final = {
    Route.DELETE: "delete now",
    Route.STOP_THEN_DELETE: "stop, then delete",
    Route.WAIT_THEN_DELETE: "wait for STOPPING, then delete",
    Route.STOP: "stop",
    Route.UNCHANGED: "unchanged (already there)",
    Route.ABSENT: "not found",
    Route.SKIP: "skip (the rules forbid it)",
    Route.DELETING: "already being deleted (left alone)",
}
_FAILURES_SHOWN: Final = 10
_KEPT_SHOWN: Final = 20


def count(n: int, noun: str) -> str:
    """``1 item``, ``2 items``, ``1,000 items``: a count and its noun, singular or plural."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def where(groups: Collection[str], resource_group: str) -> str:
    """``resource group X``; ``3 resource groups (a, b, c)`` for a run across groups."""
    if len(groups) > 1:
        return f"{len(groups)} resource groups ({', '.join(groups)})"
    return f"resource group {next(iter(groups), resource_group)}"


def summary(report: Report, *, resource_group: str) -> str:
    """A table of outcomes, the request counts, and the first failures."""
    s = report.summary
    across = len(report.groups) > 1
    lines = [
        f"{report.kind} -> {report.target.value} in {where(report.groups, resource_group)}: "
        f"{count(s.total, 'item')} in {s.seconds:.1f} s"
        + (f" ({count(s.duplicates, 'repeated ID')} ignored)" if s.duplicates else ""),
    ]
    lines += [f"  {outcome.value:<15}{n:>10,}" for outcome, n in s.outcomes.items() if n]
    if s.kept:
        lines.append(f"{count(s.kept, 'item')} kept by --keep-latest, not changed")
    if s.carried_over:
        lines.append(f"{s.carried_over:,} of them settled earlier, as the journal recorded")
    lines.append(
        f"requests: {s.requests:,} ({count(s.mutating_requests, 'change')}), "
        f"retries {s.retries:,}, throttled {s.throttled:,}"
    )
    for name, part in report.groups.items() if across else ():
        outcomes = ", ".join(f"{n:,} {outcome.value}" for outcome, n in part.outcomes.items() if n)
        lines.append(
            f"  {name}: {outcomes or 'no items'}; {count(part.requests, 'request')} "
            f"({count(part.mutating_requests, 'change')}), done in {part.seconds:.1f} s"
        )
    problems = [item for item in report.items if not item.outcome.ok]
    for item in problems[:_FAILURES_SHOWN]:
        code = f" [{item.code}]" if item.code else ""
        group = f" in {item.resource_group}" if across else ""
        lines.append(f"  {item.outcome.value} {item.id}{group}{code}: {item.message}")
    if len(problems) > _FAILURES_SHOWN:
        lines.append(f"  ... and {len(problems) - _FAILURES_SHOWN:,} more (see --output json)")
    return "\n".join(lines)


def plan_table(
    plan: Plan,
    *,
    resource_group: str,
    concurrency: int,
    rate: float | None,
    seconds_per_request: float,
) -> str:
    """The dry run: items per path, the request count and an estimated duration."""
    lines = [
        f"dry run: {plan.kind} -> {plan.target.value} in {where(plan.groups, resource_group)}: "
        f"{count(len(plan.items), 'item')}"
        + (f" ({count(plan.duplicates, 'repeated ID')} ignored)" if plan.duplicates else ""),
    ]
    lines += [
        f"  {_PATH_LABELS[path]:<32}{n:>10,}"
        for path, n in sorted(plan.paths.items(), key=lambda pair: -pair[1])
        if n
    ]
    lines += _kept(plan)
    lines.append(f"change requests: {plan.requests:,} (nothing was sent)")
    lines.append(f"estimated duration: {estimate(plan, concurrency, rate, seconds_per_request)}")
    return "\n".join(lines)


def _kept(plan: Plan) -> list[str]:
    """The items the selection keeps, each with why (the first few: all are in the JSON)."""
    if not plan.kept:
        return []
    lines = [f"kept, not changed: {count(len(plan.kept), 'item')}"]
    lines += [
        f"  keep {item.id} ({item.status.value if item.status else 'status unknown'}): "
        f"{item.reason}"
        for item in plan.kept[:_KEPT_SHOWN]
    ]
    if len(plan.kept) > _KEPT_SHOWN:
        lines.append(f"  ... and {len(plan.kept) - _KEPT_SHOWN:,} more (see --output json)")
    return lines


def estimate(plan: Plan, concurrency: int, rate: float | None, seconds_per_request: float) -> str:
    """How long the changes would take at these limits, from the dry run's own latency."""
    by_concurrency = math.ceil(plan.requests / concurrency) * seconds_per_request
    by_rate = plan.requests / rate if rate else 0.0
    waits = any(plan.paths[p] for p in (Route.STOP_THEN_DELETE, Route.WAIT_THEN_DELETE))
    text = f"about {max(by_concurrency, by_rate):.1f} s"
    return text + " plus the time stopped items take to stop" if waits else text
