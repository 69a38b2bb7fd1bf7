"""Deterministic workloads: items in chosen statuses, ages, scenarios and executables."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Final

import attrs
from attrs import validators as v

from aicore_bulk._simulator import _rules
from aicore_bulk._simulator._rules import Kind
from aicore_bulk._simulator._store import Item

_DAY: Final = 86_400.0

#: A tenant that has been used for a while: mostly finished runs, some dead, a few running.
DEFAULT_MIX: Final[Mapping[str, float]] = {
    "COMPLETED": 0.55,
    "DEAD": 0.15,
    "STOPPED": 0.10,
    "UNKNOWN": 0.02,
    "RUNNING": 0.12,
    "PENDING": 0.03,
    "STOPPING": 0.03,
}


def _statuses_valid(_: object, __: object, value: Mapping[str, float]) -> None:
    unknown = set(value) - set(_rules.STATUSES)
    if unknown:
        raise ValueError(f"unknown status(es) {sorted(unknown)}; use {list(_rules.STATUSES)}")
    if any(weight < 0 for weight in value.values()) or not any(value.values()):
        raise ValueError("status weights must be >= 0 and not all zero")


@attrs.frozen(kw_only=True)
class Lifecycle:
    """How seeded PENDING and RUNNING items change by themselves while a cleanup runs.

    Each fraction of those items changes once, at a moment drawn uniformly from
    ``(0, within]`` seconds after seeding. Deployments never complete, so ``complete`` does
    not apply to them.
    """

    complete: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    die: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    stopped_by_others: float = attrs.field(default=0.0, validator=[v.ge(0.0), v.le(1.0)])
    within: float = attrs.field(default=60.0, validator=v.gt(0.0))

    def __attrs_post_init__(self) -> None:
        if self.complete + self.die + self.stopped_by_others > 1.0:
            raise ValueError("lifecycle fractions add up to more than 1")


@attrs.frozen(kw_only=True)
class SeedSpec:
    """What to seed: ``count`` items of one kind in one resource group."""

    kind: Kind
    count: int = attrs.field(validator=v.ge(0))
    resource_group: str = "default"
    #: Relative weights per status; counts follow them by largest remainder.
    statuses: Mapping[str, float] = attrs.field(default=DEFAULT_MIX, validator=_statuses_valid)
    scenarios: Sequence[str] = ("training", "batch-scoring")
    executables: Sequence[str] = ("trainer-v1", "trainer-v2", "scorer-v1")
    configurations: Sequence[str] = ("cfg-small", "cfg-large")
    schedules: Sequence[str] = ()
    #: Creation times are spread uniformly over this many seconds before now. Ninety days,
    #: so that the cleanups the docs show (``--older-than 30d``, ``7d``) select most items of
    #: a seeded tenant, but not all of them.
    max_age: float = attrs.field(default=90 * _DAY, validator=v.ge(0.0))
    min_age: float = attrs.field(default=0.0, validator=v.ge(0.0))


def status_counts(count: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``count`` by ``weights`` so that the parts add up exactly (largest remainder)."""
    total = sum(weights.values())
    exact = {status: count * weight / total for status, weight in weights.items()}
    counts = {status: int(share) for status, share in exact.items()}
    missing = count - sum(counts.values())
    by_remainder = sorted(exact, key=lambda s: exact[s] - counts[s], reverse=True)
    for status in by_remainder[:missing]:
        counts[status] += 1
    return counts


def generate(
    spec: SeedSpec, *, rng: random.Random, now: float, lifecycle: Lifecycle | None
) -> Iterator[Item]:
    """Yield the items of ``spec`` in a shuffled, seed-determined order."""
    statuses = [
        status for status, n in status_counts(spec.count, spec.statuses).items() for _ in range(n)
    ]
    rng.shuffle(statuses)
    prefix = spec.kind[0]
    for status in statuses:
        created = now - rng.uniform(spec.min_age, max(spec.min_age, spec.max_age))
        finished = status in {"COMPLETED", "DEAD", "STOPPED"}
        item = Item(
            id=f"{prefix}{rng.getrandbits(64):016x}",
            kind=spec.kind,
            status=status,
            target_status=_initial_target(spec.kind, status),
            created_at=created,
            scenario_id=rng.choice(spec.scenarios),
            executable_id=rng.choice(spec.executables),
            configuration_id=rng.choice(spec.configurations),
            configuration_name="",
            execution_schedule_id=(
                rng.choice(spec.schedules) if spec.kind == "executions" and spec.schedules else None
            ),
            start_time=None if status == "PENDING" else created + 1.0,
            completion_time=rng.uniform(created, now) if finished else None,
            modified_at=created,
        )
        item.configuration_name = f"{item.configuration_id} for {item.executable_id}"
        if status == "STOPPING":
            # Somebody asked for a stop shortly before; it lands within a few seconds.
            item.stopping_until = now + rng.uniform(0.0, 5.0)
        if lifecycle is not None and status in _rules.STOPPABLE:
            _schedule(item, rng=rng, now=now, lifecycle=lifecycle)
        yield item


def _initial_target(kind: Kind, status: str) -> str:
    if status in {"STOPPING", "STOPPED"}:
        return "STOPPED"
    return _rules.INITIAL_TARGET[kind]


def _schedule(item: Item, *, rng: random.Random, now: float, lifecycle: Lifecycle) -> None:
    draw = rng.random()
    complete = lifecycle.complete if item.kind == "executions" else 0.0
    for fraction, status in (
        (complete, "COMPLETED"),
        (lifecycle.die, "DEAD"),
        (lifecycle.stopped_by_others, "STOPPING"),
    ):
        if draw < fraction:
            item.event_at = now + rng.uniform(0.0, lifecycle.within) or lifecycle.within
            item.event_status = status
            return
        draw -= fraction
