"""Items per resource group, and the status changes that happen to them over time.

Time-driven changes (STOPPING becoming STOPPED, a running item finishing or dying on its
own, a deleted item disappearing after its linger) are applied lazily, whenever an item is
looked at. That keeps every operation O(1) per item touched and lets tests drive the whole
timeline with a manual clock instead of real waits.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Literal

import attrs

from aicore_bulk._simulator import _rules
from aicore_bulk._simulator._rules import Kind

Operation = Literal["stop", "delete"]


@attrs.define(eq=False)
class Item:
    """One execution or deployment as the server holds it."""

    id: str
    kind: Kind
    status: str
    target_status: str
    created_at: float
    scenario_id: str
    executable_id: str
    configuration_id: str
    configuration_name: str
    execution_schedule_id: str | None = None
    start_time: float | None = None
    completion_time: float | None = None
    modified_at: float = 0.0
    #: When a STOPPING item becomes STOPPED.
    stopping_until: float | None = None
    #: A change that happens to a PENDING/RUNNING item by itself: COMPLETED, DEAD, or
    #: STOPPING (somebody else stopped it).
    event_at: float | None = None
    event_status: str | None = None
    deleted_at: float | None = None
    #: The status last shown to a client (by a GET or a list). A request that this status
    #: already forbids is the client's mistake; one refused only because the item changed
    #: unseen is a race the client could not avoid.
    seen_status: str | None = None


@attrs.frozen
class Refusal:
    """Why a stop or delete of one item was refused."""

    code: str
    message: str
    not_found: bool


@attrs.frozen
class Change:
    """What a stop or delete did to one item."""

    refusal: Refusal | None
    #: The request was forbidden by the status the client had last been shown.
    against_seen_status: bool
    #: The status the item had when the request arrived (None when not found).
    status: str | None
    #: The status the client had last been shown (None when never, or no longer known).
    seen: str | None


@attrs.define(eq=False)
class Store:
    """All items, by kind and resource group."""

    clock: Callable[[], float]
    stop_delay: float
    delete_linger: float
    _groups: dict[tuple[Kind, str], dict[str, Item]] = attrs.field(factory=dict, init=False)
    #: Deleted items not yet purged, per group: while there are none, a page of an unfiltered
    #: list can be cut straight out of the group without looking at every item.
    _lingering: Counter[tuple[Kind, str]] = attrs.field(factory=Counter, init=False)

    def add(self, resource_group: str, item: Item) -> None:
        """Insert or replace one item."""
        self._groups.setdefault((item.kind, resource_group), {})[item.id] = item

    def resource_groups(self) -> list[str]:
        """The resource groups that hold any item."""
        return sorted({group for _, group in self._groups})

    def get(self, kind: Kind, resource_group: str, item_id: str) -> Item | None:
        """One item with its current status, or None when it does not (or no longer) exist."""
        items = self._groups.get((kind, resource_group))
        if items is None:
            return None
        item = items.get(item_id)
        if item is None:
            return None
        if not self._settle(item, self.clock()):
            del items[item_id]
            self._lingering[(kind, resource_group)] -= 1
            return None
        return item

    def page(self, kind: Kind, resource_group: str, skip: int, top: int) -> tuple[list[Item], int]:
        """Items ``skip`` to ``skip + top`` of a group, and how many it holds.

        O(skip + top) while no deleted item lingers; otherwise a full scan.
        """
        items = self._groups.get((kind, resource_group), {})
        if self._lingering[(kind, resource_group)]:
            visible = list(self.scan(kind, resource_group))
            return visible[skip : skip + top], len(visible)
        now = self.clock()
        page = list(itertools.islice(items.values(), skip, skip + top))
        for item in page:
            self._settle(item, now)
        return page, len(items)

    def scan(self, kind: Kind, resource_group: str) -> Iterator[Item]:
        """Every visible item of a group, settled to the current time, in insertion order."""
        items = self._groups.get((kind, resource_group))
        if not items:
            return
        now = self.clock()
        gone: list[str] = []
        for item in items.values():
            if self._settle(item, now):
                yield item
            else:
                gone.append(item.id)
        for item_id in gone:
            items.pop(item_id, None)
        self._lingering[(kind, resource_group)] -= len(gone)

    def change(
        self,
        kind: Kind,
        resource_group: str,
        item_id: str,
        operation: Operation,
        *,
        tell_client: bool = True,
    ) -> Change:
        """Apply a stop or delete to one item, if the status table allows it.

        ``tell_client`` is False when the answer will not reach the client intact: then the
        client has learned nothing about the item's new status.
        """
        item = self.get(kind, resource_group, item_id)
        if item is None or item.deleted_at is not None:
            # A deleted item lingers in listings, but it is gone for any further change.
            return Change(
                refusal=Refusal(
                    code=_rules.CODE_NOT_FOUND[kind],
                    message=_rules.not_found_message(kind, item_id),
                    not_found=True,
                ),
                against_seen_status=False,
                status=None,
                seen=None,
            )
        allowed = _allows(kind, operation)
        against_seen = item.seen_status is not None and not allowed(item.seen_status)
        status = item.status
        seen = item.seen_status
        if not allowed(status):
            refusal = Refusal(
                code=_rules.CODE_STATUS_CONFLICT,
                message=_rules.conflict_message(status),
                not_found=False,
            )
            return Change(
                refusal=refusal, against_seen_status=against_seen, status=status, seen=seen
            )
        now = self.clock()
        item.modified_at = now
        item.event_at = None
        if operation == "stop":
            item.status = "STOPPING"
            item.target_status = "STOPPED"
            item.stopping_until = now + self.stop_delay
        else:
            item.target_status = "DELETED"
            item.deleted_at = now
            self._lingering[(kind, resource_group)] += 1
        if tell_client:
            # An accepted change tells the client what the item is now.
            item.seen_status = item.status
        return Change(refusal=None, against_seen_status=against_seen, status=status, seen=seen)

    def _settle(self, item: Item, now: float) -> bool:
        """Bring an item up to ``now``; False when it has disappeared."""
        if item.deleted_at is not None:
            return now < item.deleted_at + self.delete_linger
        if item.event_at is not None and now >= item.event_at:
            at, item.event_at = item.event_at, None
            if item.status in _rules.STOPPABLE:
                item.modified_at = at
                if item.event_status == "STOPPING":
                    item.status = "STOPPING"
                    item.target_status = "STOPPED"
                    item.stopping_until = at + self.stop_delay
                else:
                    item.status = item.event_status or "COMPLETED"
                    item.completion_time = at
        if (
            item.status == "STOPPING"
            and item.stopping_until is not None
            and now >= item.stopping_until
        ):
            item.status = "STOPPED"
            item.modified_at = item.completion_time = item.stopping_until
            item.stopping_until = None
        return True


def _allows(kind: Kind, operation: Operation) -> Callable[[str], bool]:
    if operation == "stop":
        return _rules.may_stop
    return lambda status: _rules.may_delete(kind, status)
