"""Routing: every item's route from its status, and the run's first wave of changes.

This loop runs once per item, a million times on a large cleanup, so it looks each status
up in a table made once (route, reason, and the list the item joins) and does little else;
the lists' lengths are the counts. Only items whose deletion is already scheduled, and a
resumed run's items, which carry our own earlier changes, take the longer way through
:meth:`~aicore_bulk._transitions.Goal.decide` and
:func:`~aicore_bulk._transitions.mind_own_changes`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import attrs

from aicore_bulk._book import ItemBook
from aicore_bulk._gc import collector_paused
from aicore_bulk._models import Route, Status, Target
from aicore_bulk._planner import minimum_requests
from aicore_bulk._transitions import (
    DELETING,
    SETTLED_OUTCOME,
    Goal,
    ItemState,
    Settle,
    mind_own_changes,
)


@attrs.frozen
class Routed:
    """The routes of a run's items, and its first wave of changes.

    Attributes:
        counts: Items per route (routes with none left out).
        stops: Items to stop first, in input order.
        deletes: Items to delete at once.
        waits: Items to wait for (STOPPING) before deleting.

    """

    counts: Counter[Route]
    stops: list[str]
    deletes: list[str]
    waits: list[str]

    def requests(self, *, batch: int) -> int:
        """The fewest mutating requests these routes need with no faults."""
        return minimum_requests(self.counts, batch=batch)


def route_items(goal: Goal, book: ItemBook) -> Routed:
    """Give every open item its route; settle those that need nothing."""
    stops: list[str] = []
    deletes: list[str] = []
    waits: list[str] = []
    joins: dict[Route, Callable[[str], None]] = {
        Route.DELETE: deletes.append,
        Route.STOP: stops.append,
        Route.STOP_THEN_DELETE: stops.append,
        Route.WAIT_THEN_DELETE: waits.append,
    }
    table = {
        status: (route, reason, joins.get(route))
        for status in (*Status, None)
        for route, reason in [goal.decide(status)]
    }
    settled: Counter[Route] = Counter()
    special = ItemState.EARLIER_CHANGES | DELETING
    with collector_paused():
        for item_id, state in book.items.items():
            if state.outcome is not None:
                continue
            route, reason, join = table[state.status]
            if state.flags & special:  # a deletion already scheduled, or our earlier changes
                if state.flags & DELETING:
                    route, reason = goal.decide(state.status, deleting=True)
                minded = mind_own_changes(goal, state, route)
                if isinstance(minded, Settle):
                    book.settle(item_id, *minded)
                    continue
                route, join = minded, joins.get(minded)
            state.route = route
            if join is not None:
                join(item_id)
            else:
                settled[route] += 1
                book.settle(item_id, SETTLED_OUTCOME[route], None, reason)
    stop_route = Route.STOP if goal.target is Target.STOPPED else Route.STOP_THEN_DELETE
    counts = {
        stop_route: len(stops),
        Route.DELETE: len(deletes),
        Route.WAIT_THEN_DELETE: len(waits),
        **settled,
    }
    return Routed(Counter({route: n for route, n in counts.items() if n}), stops, deletes, waits)
