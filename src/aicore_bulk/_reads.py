"""Every status read, in one place: ``$count``, the list, single reads, STOPPING, gone.

A read costs requests, and there are two ways to learn statuses: list the whole resource
group (``ceil(group size / page size)`` requests) or read each item (one request each).
:class:`StatusReader` picks the cheaper one every time, from the group's size that
``$count`` gave at the start. Whatever a list shows about other items the run tracks is
news about them too, and is kept.

Reads that decide a route ask for whole resources, not ``$select=status``: only a whole
resource carries ``targetStatus``, which tells an item whose deletion is already scheduled
(it stays listed a while, in the status it had; see ``docs/design.md``). Whole resources
are listed in smaller pages (:data:`~aicore_bulk._api.FULL_PAGE_SIZE`). The look at the
STOPPING items stays ``$select=status``: a STOPPING item cannot have been deleted.

The start of a run does not wait for ``$count`` to ask for the first page of the listing
(:meth:`StatusReader.count`): with :data:`PREFETCH_FROM` items or more, listing
is the cheaper read in any group of fewer than about 2.5 million items, so the first page goes
out alongside ``$count`` (one round trip instead of two). Should ``$count`` say otherwise, the
page is dropped unread and each item is read by itself, as before.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Iterable
from typing import Final

import anyio
import attrs

from aicore_bulk._api import FULL_PAGE_SIZE, Api
from aicore_bulk._caller import Failure
from aicore_bulk._errors import AuthenticationError, BulkError, ServiceError
from aicore_bulk._models import Kind, Seen, Status
from aicore_bulk._transitions import ItemState

#: One item's read: what it shows, None (not found), or why it could not be read.
Read = Seen | None | Failure
#: From this many items on, the first page of the listing goes out with ``$count``: single
#: reads would cost at least as many requests, so listing is the cheaper read unless the group
#: holds 100 pages of :data:`~aicore_bulk._api.FULL_PAGE_SIZE` items (about 2.5 million).
PREFETCH_FROM: Final = 100
Pages = AsyncGenerator[list[tuple[str, Seen]]]
#: A listing whose first page is in: the rest of its pages, and that page or the error it met.
_Ahead = tuple[Pages, list[tuple[str, Seen]] | BulkError]


@attrs.define(eq=False)
class StatusReader:
    """Reads statuses of one kind in one resource group into the run's items."""

    api: Api
    kind: Kind
    items: dict[str, ItemState]
    page_size: int
    #: Items in the resource group (from ``$count``): what listing it costs.
    group_size: int = attrs.field(default=0, init=False)
    #: The listing whose first page came with ``$count`` (its error is raised only if the
    #: listing is used).
    _ahead: _Ahead | None = attrs.field(default=None, init=False)

    async def count(self, *, prefetch: bool = False) -> None:
        """Learn the group's size (``$count``); with ``prefetch``, list the first page meanwhile.

        The page goes out only with :data:`PREFETCH_FROM` items or more (see above).

        Raises:
            ServiceError: The group could not be counted.
        """
        if not prefetch or len(self.items) < PREFETCH_FROM:
            self.group_size = await self.api.count(self.kind)
            return
        failed: BulkError | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._prefetch)
            try:
                self.group_size = await self.api.count(self.kind)
            except BulkError as error:  # raised plainly below, not in an exception group
                failed = error
                group.cancel_scope.cancel()
        if failed is not None:
            raise failed

    async def _prefetch(self) -> None:
        pages = self.api.list_statuses(self.kind, page_size=self.page_size, full=True)
        first: list[tuple[str, Seen]] | BulkError
        try:
            first = await anext(pages, [])
        except BulkError as error:  # raised by read_all if it lists, never if it reads each
            first = error
        self._ahead = (pages, first)

    async def read_all(self) -> list[tuple[str, Failure]]:
        """Every item's status, by the cheaper way; returns the items that could not be read.

        Raises:
            ServiceError: The statuses could not be listed.
        """
        ahead, self._ahead = self._ahead, None
        if self._cheaper_to_list(len(self.items)):
            # Straight into the items: a million-entry dict of reads would only add to the peak.
            await self._list_into_items(pages=_continued(ahead) if ahead else None)
            return []
        if ahead is not None:
            await ahead[0].aclose()  # count says single reads cost less: the page goes unread
        unreadable = []
        for item_id, read in (await self.read(self.items)).items():
            if isinstance(read, Failure):
                unreadable.append((item_id, read))
            elif read is not None:
                self.items[item_id].take(read)
        return unreadable

    async def read(self, ids: Iterable[str]) -> dict[str, Read]:
        """Statuses of ``ids`` by the cheaper way: list the whole group, or read each.

        An item neither listed nor found by a single read does not exist (here): None.
        """
        wanted = list(ids)
        if not self._cheaper_to_list(len(wanted)):
            return await self._read_each(wanted)
        found: dict[str, Read] = dict.fromkeys(wanted)
        await self._list_into_items(found)
        if self.group_size > min(self.page_size, FULL_PAGE_SIZE):
            # This read comes while (or after) the run changes items: deleted items are purged
            # meanwhile and shift the pages, so an item can slip between two pages and look
            # gone. A listed status is true; an item the list missed is read by itself.
            missed = [item_id for item_id, read in found.items() if read is None]
            found.update(await self._read_each(missed))
        return found

    async def _read_each(self, ids: list[str]) -> dict[str, Read]:
        """One ``GET`` per item, all at once (the caller's limiter paces them)."""
        results: dict[str, Read] = {}
        errors: list[BulkError] = []

        async def read_one(item_id: str) -> None:
            try:
                results[item_id] = await self.api.get_status(self.kind, item_id)
            except BulkError as error:  # raised plainly below, not in an exception group
                errors.append(error)

        async with anyio.create_task_group() as group:
            for item_id in ids:
                group.start_soon(read_one, item_id)
        if errors:
            raise errors[0]
        return results

    async def stopping(self) -> set[str] | None:
        """The IDs listed as STOPPING now; None when the list could not be read.

        Raises:
            AuthenticationError: The credentials stopped working: the run cannot go on.
        """
        listed: set[str] = set()
        try:
            async for page in self.api.list_statuses(
                self.kind, status=Status.STOPPING, page_size=self.page_size
            ):
                for item_id, _ in page:
                    listed.add(item_id)
                    tracked = self.items.get(item_id)
                    if tracked is not None and tracked.outcome is None:
                        tracked.status = Status.STOPPING  # news about queued changes, too
        except AuthenticationError:
            raise
        except ServiceError:
            return None
        return listed

    def _cheaper_to_list(self, count: int) -> bool:
        """Whether listing the whole group costs fewer requests than ``count`` single reads."""
        page = min(self.page_size, FULL_PAGE_SIZE)
        return max(1, math.ceil(self.group_size / page)) < count

    async def _list_into_items(
        self, found: dict[str, Read] | None = None, *, pages: Pages | None = None
    ) -> None:
        """List the whole group: ``found``'s items get their status (None: not listed).

        Everything else the list shows is news about other items we track, too. ``pages``:
        a listing already under way.
        """
        if pages is None:
            pages = self.api.list_statuses(self.kind, page_size=self.page_size, full=True)
        async for page in pages:
            for item_id, seen in page:
                if found is not None and item_id in found:
                    found[item_id] = seen
                    continue
                tracked = self.items.get(item_id)
                if tracked is not None and tracked.outcome is None:
                    tracked.take(seen)


async def _continued(ahead: _Ahead) -> Pages:
    """The prefetched listing whole again: its first page (or error), then the rest."""
    pages, first = ahead
    if isinstance(first, BulkError):
        raise first
    yield first
    async for page in pages:
        yield page


async def still_listed(api: Api, kind: Kind, ids: set[str], *, page_size: int) -> set[str]:
    """Which of ``ids`` the list still shows (a deleted item lingers a while)."""
    listed: set[str] = set()
    async for page in api.list_statuses(kind, page_size=page_size):
        listed.update(item_id for item_id, _ in page if item_id in ids)
    return listed
