"""Intake: the IDs a run is given, checked and deduplicated, each with a fresh state.

IDs come as any iterable, any async iterable, or a client's own selection
(:class:`SelectedIds`), which also brings the status each item was listed with, so that
the run does not list the group a second time, and the items its retention kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, cast

from aicore_bulk._errors import InputError
from aicore_bulk._gc import collector_paused
from aicore_bulk._models import Kind, Seen
from aicore_bulk._planner import check_id, intake, intake_async
from aicore_bulk._report import KeptItem
from aicore_bulk._selection import Retention
from aicore_bulk._transitions import ItemState

if TYPE_CHECKING:  # the connection is the run's; it only identifies the selection's owner
    from aicore_bulk._run import Connection

Ids = Iterable[str] | AsyncIterable[str]


class SelectedIds(AsyncIterator[str]):
    """What :meth:`BulkClient.select` returns: the IDs, with the statuses they were listed with.

    Iterated, it gives the IDs, as any stream of IDs. Given whole to the client that made it,
    for the same kind, the run takes the statuses too, and does not list the group again.
    """

    def __init__(
        self,
        owner: Connection,
        kind: Kind,
        pairs: AsyncIterator[tuple[str, Seen]],
        retention: Retention | None = None,
    ) -> None:
        self._owner, self._kind, self.pairs = owner, kind, pairs
        self._retention = retention
        self._started = False
        #: A run took it whole.
        self.used = False

    @property
    def kept(self) -> tuple[KeptItem, ...]:
        """The items the selection's ``keep_latest`` kept, each with its reason.

        Known once every ID was taken (empty before, and without ``keep_latest``).
        """
        return () if self._retention is None else self._retention.kept

    def lists_for(self, owner: Connection, kind: Kind) -> bool:
        """Whether its statuses are this client's and kind's, and none was taken yet."""
        return owner is self._owner and kind == self._kind and not self._started

    async def __anext__(self) -> str:
        self._started = True
        item_id, _ = await anext(self.pairs)
        return item_id


def kept_of(ids: Ids) -> tuple[KeptItem, ...]:
    """What the selection behind ``ids`` kept (nothing, for IDs given as such)."""
    return ids.kept if isinstance(ids, SelectedIds) else ()


async def intake_states(
    ids: Ids, owner: Connection, kind: Kind
) -> tuple[dict[str, ItemState], int, bool]:
    """A fresh state for each distinct, checked ID in input order, and the repeats dropped.

    The flag says every state already holds its status (the owner's own selection).
    """
    if isinstance(ids, SelectedIds) and ids.used:
        # Its pages were read by an earlier run: this one would silently have no items.
        raise InputError("this selection was already used by a run; call select() again")
    if isinstance(ids, SelectedIds) and ids.lists_for(owner, kind):
        ids.used = True
        states: dict[str, ItemState] = {}
        total = 0
        async for item_id, seen in ids.pairs:
            total += 1
            if check_id(item_id, total) not in states:
                state = states[item_id] = ItemState()
                state.take(seen)
        return states, total - len(states), True
    if isinstance(ids, AsyncIterable):
        distinct, duplicates = await intake_async(ids)
    else:
        distinct, duplicates = intake(ids)
    # The intake's dict gets its values in place: a second dict of a million keys would
    # only add to the peak. It is relabelled, not copied: every key gets a state below.
    states = cast("dict[str, ItemState]", distinct)
    with collector_paused():
        # Every key gets a fresh state in one C-level pass (only values change: no resize).
        states.update(zip(distinct, iter(ItemState, None), strict=False))  # endless states
    return states, duplicates, False
