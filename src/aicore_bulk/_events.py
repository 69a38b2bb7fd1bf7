"""Progress events: what a progress bar, a log or an orchestrator can follow.

Events flow one way, out of the engine, to a listener: a plain callable that takes an event.
A listener must be quick (it runs on the event loop) and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from aicore_bulk._models import Kind, Target
from aicore_bulk._report import ItemResult


@attrs.frozen
class PlanReady:
    """Statuses are known and every item has a path.

    Attributes:
        paths: Items per path: ``delete``, ``stop``, ``stop_then_delete``, ``wait_then_delete``,
            ``unchanged``, ``absent``, ``skip``, ``deleting``.
        total: Distinct items.
        requests: The fewest mutating requests the plan needs with no faults.

    """

    kind: Kind
    target: Target
    paths: Mapping[str, int]
    total: int
    requests: int


@attrs.frozen
class RequestSent:
    """A request went out (``items`` is 0 for reads)."""

    operation: str
    items: int
    attempt: int


@attrs.frozen
class RequestAnswered:
    """A request came back, or failed without an answer (``status`` None)."""

    operation: str
    items: int
    status: int | None
    seconds: float


@attrs.frozen
class PhaseDone:
    """A phase ended: ``resolve`` (statuses read), ``dispatch`` (everything settled)."""

    phase: str


@attrs.frozen
class ItemSettled:
    """One item's outcome is final."""

    result: ItemResult


Event = PlanReady | RequestSent | RequestAnswered | PhaseDone | ItemSettled
Listener = Callable[[Event], None]
