"""The planner: pure decisions, no I/O, no clock.

* :func:`intake` validates IDs and drops repeats (first-seen order);
* :func:`decide` picks each item's route from its status and the contract's table;
* :func:`pack` cuts changes into requests of 1..100 distinct IDs, stops first;
* :func:`minimum_requests` is the lower bound the engine meets with no faults.

The routes::

    target DELETED                          target STOPPED
    PENDING, RUNNING   stop_then_delete**   PENDING, RUNNING             stop**
    STOPPING           wait_then_delete     STOPPING, STOPPED, DEAD,
    STOPPED, DEAD,     delete               COMPLETED                    unchanged
    UNKNOWN, COMPLETED*                     UNKNOWN                      skip
    not found          absent               not found                    absent
    deletion scheduled deleting             deletion scheduled           deleting

    * COMPLETED is deletable for executions only.
    ** A PENDING or RUNNING *deployment* serves traffic: it is stopped only with
       ``include_running``; otherwise it is skipped.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from typing import Final

from aicore_bulk._errors import InputError
from aicore_bulk._models import (
    ID_CHARACTERS,
    ID_LENGTH,
    ID_PATTERN,
    MAX_BATCH,
    STOPPABLE,
    Kind,
    Op,
    Route,
    Status,
    Target,
    deletable,
)


def check_id(item_id: object, position: int) -> str:
    """The ID if it matches the AI API's pattern; otherwise :class:`InputError` naming it."""
    if not isinstance(item_id, str):
        raise InputError(f"ID #{position} is of type {type(item_id).__name__}, not a string")
    if not ID_PATTERN.fullmatch(item_id):
        shown = item_id if len(item_id) <= 80 else item_id[:77] + "..."  # noqa: PLR2004
        raise InputError(
            f"ID #{position} {shown!r} is not a valid AI Core ID "
            "(4 to 64 letters, digits, '_', '.' or '-')"
        )
    return item_id


def intake(ids: Iterable[object]) -> tuple[dict[str, None], int]:
    """Distinct valid IDs in first-seen order, and how many repeats were dropped.

    A million IDs are checked in one regex pass over them joined by newlines (no ID may hold
    one), in C, instead of a million Python-level calls; only a bad input is walked item by
    item, to name the first bad ID and its position.
    """
    if isinstance(ids, str | bytes):
        raise InputError("ids must be an iterable of IDs, not a single string")
    try:
        given = ids if isinstance(ids, list | tuple) else list(ids)
    except TypeError:
        raise InputError(f"ids must be an iterable of IDs, not {type(ids).__name__}") from None
    try:
        seen: dict[str, None] = dict.fromkeys(given)  # type: ignore[arg-type]
        joined = "\n".join(seen).encode("ascii")
    except (TypeError, UnicodeEncodeError):  # unhashable, not a string, not ASCII: named below
        pass
    else:
        lengths = set(map(len, seen))  # a few distinct lengths: one pass, not two
        if not seen or (
            joined.count(b"\n") == len(seen) - 1  # no ID holds a newline
            and not joined.translate(None, _ID_BYTES)  # nothing but allowed characters
            and min(lengths) >= ID_LENGTH[0]
            and max(lengths) <= ID_LENGTH[1]
        ):
            return seen, len(given) - len(seen)
    seen = {}
    for position, item_id in enumerate(given, start=1):
        seen[check_id(item_id, position)] = None  # raises at the first bad ID
    return seen, len(given) - len(seen)


#: The characters an ID may hold, and the newline that joins IDs, as bytes.
_ID_BYTES: Final = (ID_CHARACTERS + "\n").encode("ascii")


async def intake_async(ids: AsyncIterable[object]) -> tuple[dict[str, None], int]:
    """:func:`intake` for an async iterable, consumed as it streams."""
    seen: dict[str, None] = {}
    total = 0
    async for item_id in ids:
        total += 1
        seen[check_id(item_id, total)] = None
    return seen, total - len(seen)


@functools.cache
def decide(  # noqa: PLR0911 - one return per row of the table
    kind: Kind,
    target: Target,
    status: Status | None,
    *,
    include_running: bool = False,
    deleting: bool = False,
) -> tuple[Route, str | None]:
    """An item's route, and the reason when it is skipped or left unchanged.

    ``include_running``: PENDING and RUNNING deployments may be stopped (they serve traffic,
    so only when asked). Executions need no such consent.
    ``deleting``: the item's deletion is already scheduled (``targetStatus: DELETED``).

    Memoised: the table has 2 x 2 x 8 x 2 x 2 rows, and a cleanup asks it once per item.
    """
    if status is None:
        return Route.ABSENT, "not found"
    if deleting:
        # Whatever it shows, it is going away: a delete would only be refused as "not found",
        # and it cannot be stopped any more.
        return Route.DELETING, DELETING_REASON
    if status in STOPPABLE and kind == "deployments" and not include_running:
        return Route.SKIP, serving_reason(status)
    if target is Target.STOPPED:
        if status in STOPPABLE:
            return Route.STOP, None
        if status is Status.UNKNOWN:
            return Route.SKIP, "status UNKNOWN cannot be stopped (it can be deleted)"
        return Route.UNCHANGED, f"already {status.value}"
    if status in STOPPABLE:
        return Route.STOP_THEN_DELETE, None
    if status is Status.STOPPING:
        return Route.WAIT_THEN_DELETE, None
    if deletable(kind, status):
        return Route.DELETE, None
    return Route.SKIP, f"{kind} in status {status.value} cannot be deleted"


#: Why an item whose deletion is already scheduled is left alone.
DELETING_REASON: Final = "its deletion is already scheduled (targetStatus DELETED)"


def serving_reason(status: Status) -> str:
    """Why a PENDING or RUNNING deployment is not stopped: in words for the API and the CLI."""
    return (
        f"a {status.value} deployment serves traffic: "
        "not stopped without include_running (--include-running)"
    )


def first_op(route: Route) -> Target | None:
    """The change an item on ``route`` needs first (None: nothing to send yet)."""
    return _FIRST_OP.get(route)


_FIRST_OP: Final[dict[Route, Target]] = {
    Route.STOP: Target.STOPPED,
    Route.STOP_THEN_DELETE: Target.STOPPED,
    Route.DELETE: Target.DELETED,
}


def pack(
    stops: Sequence[str], deletes: Sequence[str], *, size: int = MAX_BATCH
) -> Iterator[list[Op]]:
    """Requests of at most ``size`` changes, stops first so that their wait starts soonest.

    The IDs must be distinct (one change per item per phase), so every request's are. Requests
    are made as they are asked for: a million items never exist as Ops all at once.
    """
    changes = itertools.chain(
        zip(stops, itertools.repeat(Target.STOPPED), strict=False),
        zip(deletes, itertools.repeat(Target.DELETED), strict=False),
    )
    # tuple.__new__ through map makes the Ops in C: a million Op(...) calls cost a second.
    make = functools.partial(map, tuple.__new__, itertools.repeat(Op))
    while batch := list(make(itertools.islice(changes, size))):
        yield batch


def minimum_requests(routes: Mapping[Route, int], *, batch: int = MAX_BATCH) -> int:
    """The fewest mutating requests a pipelined run needs, with no faults.

    Changes that can go at once (deletes, stops) fill ``ceil(n / 100)`` requests; the deletes
    that must wait for a stop to finish fill ``ceil(m / 100)`` more. Holding back some
    immediate deletes to share those later requests could save at most one request, and
    would make those items wait for the stops: we do not.
    """
    now = sum(routes.get(r, 0) for r in (Route.DELETE, Route.STOP, Route.STOP_THEN_DELETE))
    later = sum(routes.get(r, 0) for r in (Route.STOP_THEN_DELETE, Route.WAIT_THEN_DELETE))
    return math.ceil(now / batch) + math.ceil(later / batch)
