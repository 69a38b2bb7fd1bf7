"""The stop wait: items whose stop was accepted, waiting to leave STOPPING before a delete.

Every ``poll_interval`` seconds one list of the STOPPING items (a page per 100,000 of them)
tells about all of them at once: an item no longer listed is deleted next, an item still
listed after ``stop_wait`` seconds is given up. Each item's wait runs from its first start,
however often it re-enters the set.
"""

from __future__ import annotations

import attrs

from aicore_bulk._book import ItemBook
from aicore_bulk._clock import Clock
from aicore_bulk._models import Op
from aicore_bulk._reads import StatusReader
from aicore_bulk._transitions import Send, Settle, after_look


@attrs.define(eq=False)
class StopWait:
    """The items waiting for STOPPING to pass."""

    book: ItemBook
    reader: StatusReader
    clock: Clock
    stop_wait: float
    _waiting: dict[str, None] = attrs.field(factory=dict, init=False)

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def add(self, item_ids: list[str]) -> None:
        """Wait for these items to leave STOPPING."""
        now = self.clock.monotonic()
        items = self.book.items
        for item_id in item_ids:
            rare = items[item_id].rare
            if rare.waiting_since is None:
                rare.waiting_since = now
            self._waiting[item_id] = None

    def clear(self) -> None:
        """Wait for nothing more (an interruption): the items stay open."""
        self._waiting.clear()

    async def poll(self) -> list[Op]:
        """Look at the STOPPING items once; settle those that waited too long.

        Returns:
            The deletes that may go now.
        """
        # Only items already waiting when the list was asked for may be released by it: one
        # that started waiting meanwhile is missing from the list only because it is new.
        asked = list(self._waiting)
        stopping = await self.reader.stopping()
        now = self.clock.monotonic()
        items = self.book.items
        ready: list[Op] = []
        for item_id in asked:
            if item_id not in self._waiting:
                continue
            state = items[item_id]
            if state.outcome is not None:  # settled meanwhile
                del self._waiting[item_id]
                continue
            action = after_look(
                item_id,
                state,
                still_stopping=None if stopping is None else item_id in stopping,
                waited=now - (state.waiting_since or now),
                stop_wait=self.stop_wait,
            )
            if isinstance(action, Send):
                ready.append(action.op)
            elif isinstance(action, Settle):
                self.book.settle(item_id, *action)
            else:
                continue
            del self._waiting[item_id]
        return ready
