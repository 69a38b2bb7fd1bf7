"""What the simulator saw: request counts, batch sizes, service time, contract violations."""

from __future__ import annotations

import collections
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
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
#: Served times kept for the latency figures: the latest this many (a bounded memory).
_MAX_TIMED: Final = 100_000


@attrs.frozen
class Violation:
    """One thing a client did that the contract forbids."""

    rule: ViolationRule
    detail: str


@attrs.frozen
class Latency:
    """How long served requests took in the server, queueing included (seconds)."""

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Latency:
        """The figures of these times (all zero when there are none)."""
        ordered = sorted(seconds)
        if not ordered:
            return cls()

        def rank(share: float) -> float:
            # The nearest-rank percentile: a time some request really took.
            return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

        return cls(
            count=len(ordered),
            mean=sum(ordered) / len(ordered),
            p50=rank(0.5),
            p95=rank(0.95),
            p99=rank(0.99),
            max=ordered[-1],
        )


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
    #: The most AI API requests waiting at once for the server's capacity (``capacity``).
    peak_queued: int = 0
    #: AI API requests that had to wait for the server's capacity.
    queued: int = 0
    #: Time in the server of the served AI API requests (the latest 100,000): from arrival
    #: to answer, the capacity queue and the latency fault included; refusals (401, 429,
    #: injected 5xx) are not served and not counted.
    latency: Latency = Latency()
    #: The same counts per resource group, for every group a request named.
    groups: MappingProxyType[str, GroupStatistics] = MappingProxyType({})
    #: Seconds spent inside the handlers, by operation: the simulator's own service time,
    #: without the added latency or queueing (wall time around synchronous handler code).
    service_seconds: MappingProxyType[str, float] = MappingProxyType({})

    @property
    def busy_seconds(self) -> float:
        """Seconds the simulator spent serving: it serves one request at a time on one core."""
        return sum(self.service_seconds.values())

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
    peak_queued: int = 0
    queued: int = 0
    served: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=_MAX_TIMED)
    )
    service_seconds: defaultdict[str, float] = attrs.field(factory=lambda: defaultdict(float))
    #: The process's CPU clock when counting began: a simulator in a process of its own
    #: reports the CPU it spent since (HTTP parsing and all, not only the handlers).
    cpu_started: float = attrs.field(factory=time.process_time)
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

    def waiting(self, queued: int) -> None:
        """A request joined the capacity queue; ``queued`` wait now."""
        self.queued += 1
        self.peak_queued = max(self.peak_queued, queued)

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
            peak_queued=self.peak_queued,
            queued=self.queued,
            latency=Latency.of(self.served),
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
            service_seconds=MappingProxyType(dict(self.service_seconds)),
        )
