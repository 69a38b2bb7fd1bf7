"""What the simulator saw: request counts, batch sizes, in-flight peaks and contract violations."""

from __future__ import annotations

from collections import Counter
from types import MappingProxyType
from typing import Final, Literal

import attrs

ViolationRule = Literal[
    "batch-empty",
    "batch-too-large",
    "repeated-id",
    "missing-resource-group",
    "wrong-content-type",
    "malformed-body",
    "refused-transition",
    "bulk-disabled",
]

#: Violations kept with their details; beyond this only the count grows, so a badly broken
#: client cannot make the simulator's memory grow without bound.
_MAX_KEPT: Final = 1000


@attrs.frozen
class Violation:
    """One thing a client did that the contract forbids."""

    rule: ViolationRule
    detail: str


@attrs.frozen
class GroupStatistics:
    """What one resource group received (requests that named it in ``AI-Resource-Group``)."""

    #: Requests by operation, as in :attr:`Statistics.requests`.
    requests: MappingProxyType[str, int]
    #: How many bulk requests carried each number of items.
    bulk_sizes: MappingProxyType[int, int]
    #: Items changed successfully, by operation (``stop``, ``delete``).
    changed: MappingProxyType[str, int]
    #: 429s sent to requests that named the group.
    throttled: int = 0


@attrs.frozen
class Statistics:
    """A snapshot of what the simulator has seen since it was created (or reset)."""

    #: Requests by operation: ``token``, ``meta``, ``list``, ``count``, ``get``, ``stop``,
    #: ``delete``, ``bulk``, ``resource_groups`` (the admin listing), ``other``.
    requests: MappingProxyType[str, int]
    #: How many bulk requests carried each number of items.
    bulk_sizes: MappingProxyType[int, int]
    #: Items changed successfully, by operation (``stop``, ``delete``).
    changed: MappingProxyType[str, int]
    #: Per-item refusals that were races (the status changed after the client last saw it).
    refused: int
    peak_in_flight: int
    throttled: int
    #: Injected faults by name (``rate-limit``, ``server-error``, ``drop-after``, ...).
    faults: MappingProxyType[str, int]
    violations: tuple[Violation, ...]
    violation_count: int
    #: The same counts per resource group, for every group a request named.
    groups: MappingProxyType[str, GroupStatistics] = MappingProxyType({})

    @property
    def total_requests(self) -> int:
        """All requests of every operation."""
        return sum(self.requests.values())

    @property
    def mutating_requests(self) -> int:
        """Requests that can change an item: single stops and deletes, and bulk changes."""
        return sum(self.requests.get(op, 0) for op in ("stop", "delete", "bulk"))


@attrs.define(eq=False)
class Recorder:
    """The mutable counters behind :class:`Statistics`."""

    requests: Counter[str] = attrs.field(factory=Counter)
    bulk_sizes: Counter[int] = attrs.field(factory=Counter)
    changed: Counter[str] = attrs.field(factory=Counter)
    faults: Counter[str] = attrs.field(factory=Counter)
    refused: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    throttled: int = 0
    violations: list[Violation] = attrs.field(factory=list)
    violation_count: int = 0
    #: Change requests that carried each item, by (kind, ID, operation); kept apart from
    #: :class:`Statistics` because it grows with the items (read it per item).
    received: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)
    #: Per resource group: requests by operation, bulk sizes, changes by operation.
    group_requests: dict[str, Counter[str]] = attrs.field(factory=dict)
    group_bulk_sizes: dict[str, Counter[int]] = attrs.field(factory=dict)
    group_changed: dict[str, Counter[str]] = attrs.field(factory=dict)
    group_throttled: Counter[str] = attrs.field(factory=Counter)

    def group_request(self, group: str, operation: str) -> None:
        """A request named ``group`` in its ``AI-Resource-Group`` header."""
        self.group_requests.setdefault(group, Counter())[operation] += 1

    def enter(self) -> None:
        """A request started."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        """A request ended (answered, refused or dropped)."""
        self.in_flight -= 1

    def violation(self, rule: ViolationRule, detail: str) -> None:
        """Note a contract violation by the client."""
        self.violation_count += 1
        if len(self.violations) < _MAX_KEPT:
            self.violations.append(Violation(rule, detail))

    def snapshot(self) -> Statistics:
        """A frozen copy of the counters."""
        return Statistics(
            requests=MappingProxyType(dict(self.requests)),
            bulk_sizes=MappingProxyType(dict(self.bulk_sizes)),
            changed=MappingProxyType(dict(self.changed)),
            refused=self.refused,
            peak_in_flight=self.peak_in_flight,
            throttled=self.throttled,
            faults=MappingProxyType(dict(self.faults)),
            violations=tuple(self.violations),
            violation_count=self.violation_count,
            groups=MappingProxyType(
                {
                    group: GroupStatistics(
                        requests=MappingProxyType(dict(requests)),
                        bulk_sizes=MappingProxyType(dict(self.group_bulk_sizes.get(group, {}))),
                        changed=MappingProxyType(dict(self.group_changed.get(group, {}))),
                        throttled=self.group_throttled[group],
                    )
                    for group, requests in self.group_requests.items()
                }
            ),
        )
