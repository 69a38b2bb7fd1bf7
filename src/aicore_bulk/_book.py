"""The book of a run: every item's state, and where an outcome goes when it is final.

An outcome is written once (the first one stands), then told to the listener and marked for
the journal; the journal is written in one transaction per batch of changes
(:meth:`ItemBook.write_journal`), not per item.

The one exception is ``unknown``: while the run holds its doubts (:meth:`ItemBook.hold_doubts`),
an item settled ``unknown`` is told to the listener only at :meth:`ItemBook.release_doubts`,
because the run's final read may still settle it (:meth:`ItemBook.reconsider`). Each item is
told once, with its last outcome.
"""

from __future__ import annotations

import attrs

from aicore_bulk._events import Event, ItemSettled, Listener
from aicore_bulk._gc import collector_paused
from aicore_bulk._journal import ItemRecord, Journal
from aicore_bulk._models import Outcome
from aicore_bulk._report import ItemResult
from aicore_bulk._transitions import ItemState, at_end


@attrs.define(eq=False)
class ItemBook:
    """The items of one run, by ID in input order, and their listener and journal."""

    items: dict[str, ItemState]
    listener: Listener | None = None
    #: The resource group the items are in (each result carries it).
    resource_group: str | None = None
    #: Where outcomes are written as they settle (see :mod:`aicore_bulk._journal`).
    journal: Journal | None = None
    #: Items whose outcome or flags changed since the journal was last written.
    _unwritten: dict[str, None] = attrs.field(factory=dict, init=False)
    #: Items settled ``unknown`` and not yet told (None: not holding them).
    _doubts: dict[str, None] | None = attrs.field(default=None, init=False)

    def settle(
        self,
        item_id: str,
        outcome: Outcome,
        code: str | None,
        message: str | None,
        *,
        journaled: bool = True,
    ) -> None:
        """Give the item its final outcome, unless it has one already.

        ``journaled=False`` keeps the outcome out of the journal: the item stays open there.
        """
        state = self.items[item_id]
        if state.outcome is not None:
            return
        state.outcome, state.code, state.message = outcome, code, message
        if self.journal is not None and journaled:
            self._unwritten[item_id] = None
        if outcome is Outcome.UNKNOWN and self._doubts is not None:
            self._doubts[item_id] = None  # told at release_doubts, after the final read
        elif self.listener is not None:
            self.listener(ItemSettled(self.result(item_id)))

    def hold_doubts(self) -> None:
        """From now on, tell items settled ``unknown`` only at :meth:`release_doubts`."""
        self._doubts = {}

    def doubts(self) -> list[str]:
        """The items settled ``unknown`` so far, and not yet told."""
        return list(self._doubts or ())

    def reconsider(
        self, item_id: str, outcome: Outcome, code: str | None, message: str | None
    ) -> None:
        """The final read settled an item that was ``unknown``: this outcome replaces it."""
        state = self.items[item_id]
        state.outcome, state.code, state.message = outcome, code, message
        if self.journal is not None:
            self._unwritten[item_id] = None

    def release_doubts(self) -> None:
        """Tell the listener about every item held in doubt, with its last outcome."""
        doubts, self._doubts = self._doubts, None
        if doubts and self.listener is not None:
            for item_id in doubts:
                self.listener(ItemSettled(self.result(item_id)))

    def touch(self, item_ids: list[str]) -> None:
        """These items' flags or status changed: write them with the next journal write."""
        if self.journal is not None:
            self._unwritten.update(dict.fromkeys(item_ids))

    def write_journal(self) -> None:
        """Write what changed since the last time, in one transaction."""
        if self.journal is None or not self._unwritten:
            return
        ids, self._unwritten = self._unwritten, {}
        self.journal.record(self.record(item_id) for item_id in ids)

    def emit(self, event: Event) -> None:
        """Tell the listener, if there is one."""
        if self.listener is not None:
            self.listener(event)

    def finish(self, reason: str, *, interrupted: bool = False) -> None:
        """Settle whatever is still open when the run ends early.

        After an interruption, items never sent are ``skipped`` in the report but stay open
        in the journal, so that a resume sends them (a skip is final to a resume).
        """
        self.write_journal()  # pending flags first: they are written with no outcome
        for item_id, state in self.items.items():
            settle = at_end(state, reason, interrupted=interrupted)
            if settle is not None:
                never_sent = settle.outcome is Outcome.SKIPPED
                self.settle(item_id, *settle, journaled=not never_sent)
        self.write_journal()

    def record(self, item_id: str) -> ItemRecord:
        """One item's fate and flags, for the journal."""
        state = self.items[item_id]
        seen = state.last_seen
        return ItemRecord(
            id=item_id,
            outcome=state.outcome,
            code=state.code,
            message=state.message,
            attempts=state.attempts,
            status=seen.value if seen is not None else None,
            unconfirmed=state.unconfirmed,
            delete_unsure=state.delete_unsure,
            stopped_by_us=state.stopped_by_us,
            in_flight=state.in_flight,
        )

    def result(self, item_id: str) -> ItemResult:
        """One item's result as the report shows it."""
        return _result(item_id, self.items[item_id], self.resource_group)

    def take_results(self) -> list[ItemResult]:
        """Every item's result in input order; the book lets go of the items as it goes.

        The run is over: a million states and a million results held at once would double
        the memory the report takes to make.
        """
        results: list[ItemResult] = []
        append, take, group = results.append, self.items.popitem, self.resource_group
        with collector_paused():
            while self.items:
                append(_result(*take(), group))  # the last first: O(1) each
        results.reverse()
        return results


def _result(item_id: str, state: ItemState, group: str | None) -> ItemResult:
    # Positional, and the status member as it is: this runs once per item of every report.
    return ItemResult(
        item_id,
        state.outcome or Outcome.UNKNOWN,
        state.code,
        state.message,
        state.attempts,
        state.last_seen,
        group,
    )
