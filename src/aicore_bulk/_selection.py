"""Choosing items by what they are, through the list endpoint, a page at a time.

Retention (``keep_latest``) cannot know what to keep until it has seen every item, yet a
million-item listing must not be held whole. :class:`Retention` keeps, per key, a min-heap of
the ``keep_latest`` newest items seen so far, as ``(createdAt, ID, status)`` triples: an item
pushed out of its heap has that many newer ones beside it, so it is selected at once, and
the listing still streams. When the last page is read, what is left in the heaps is kept.
Memory is ``keep_latest`` small triples per key, never whole resources.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final, Literal, cast

import attrs

from aicore_bulk._api import Api, seen_in
from aicore_bulk._errors import InputError
from aicore_bulk._models import ID_PATTERN, STATUS_BY_VALUE, Deleting, Kind, Seen, Status
from aicore_bulk._report import KeptItem

AgeField = Literal["created", "completion"]
#: What ``keep_latest`` counts per: the newest N of each configuration, scenario or executable.
KeepPer = Literal["configuration", "scenario", "executable"]

#: The resource field each grouping reads (a listing of whole resources carries all three).
_KEY_FIELDS: Final[dict[str, str]] = {
    "configuration": "configurationId",
    "scenario": "scenarioId",
    "executable": "executableId",
}

_STATUS_NAMES: Final = ", ".join(Status)


def _statuses(value: Status | str | Iterable[Status | str] | None) -> tuple[Status, ...]:
    """One status or many, by member or name in any case, as distinct members in order."""
    # The annotation says what callers may pass; an untyped caller may pass anything.
    given: object = value
    if given is None:
        return ()
    found: dict[Status, None] = {}
    for item in _one_or_many(given, "statuses", "Status values or their names"):
        if not isinstance(item, str):
            raise InputError(
                f"statuses must be Status values or their names, not {type(item).__name__}"
            )
        status = STATUS_BY_VALUE.get(item.upper())
        if status is None:
            raise InputError(f"statuses: unknown status {item!r}: use one of {_STATUS_NAMES}")
        found[status] = None
    return tuple(found)


def _executable_ids(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """One ID or many, as distinct IDs in order (each checked by ``_ids``)."""
    given: object = value
    if given is None:
        return ()
    items = tuple(_one_or_many(given, "executable_ids", "AI Core IDs"))
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"executable_ids must be AI Core IDs, not {type(item).__name__}")
    return tuple(dict.fromkeys(cast("tuple[str, ...]", items)))


def _one_or_many(value: object, name: str, wanted: str) -> Iterable[object]:
    if isinstance(value, str):
        return (value,)
    # Bytes would give numbers, a mapping its keys: neither is what was meant.
    if isinstance(value, bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise InputError(f"{name} must be {wanted}, not {type(value).__name__}")
    return cast("Iterable[object]", value)


def _seconds(value: float | dt.timedelta | None) -> float | None:
    """A timedelta or a number of seconds, as float seconds; finite and not negative."""
    given: object = value
    if given is None:
        return None
    if isinstance(given, dt.timedelta):
        seconds = given.total_seconds()
    elif isinstance(given, int | float) and not isinstance(given, bool):
        seconds = float(given)
    else:
        raise InputError(
            f"older_than must be a timedelta or a number of seconds, not {type(given).__name__}"
        )
    if not math.isfinite(seconds):
        raise InputError(f"older_than must be a finite number of seconds, got {given!r}")
    if seconds < 0:
        raise InputError("older_than must be >= 0 seconds")
    return seconds


def _id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InputError(f"{attribute.name} must be a string, not {type(value).__name__}")
    _check_id(attribute.name, value)


def _ids(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for item in value:
        _check_id(attribute.name, item)


def _check_id(name: str, value: str) -> None:
    if not ID_PATTERN.fullmatch(value):
        raise InputError(f"{name} {value!r} is not a valid AI Core ID")


def _age_field(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value not in ("created", "completion"):
        raise InputError("age_field must be 'created' or 'completion'")


def _keep_latest(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    # bool is an int: True would quietly mean 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"keep_latest must be a whole number >= 1, not {type(value).__name__}")
    if value < 1:
        # Keeping none is a selection without keep_latest; a 0 is more likely a mistake
        # (an unset variable in a template) than a wish to delete the newest items too.
        raise InputError(
            f"keep_latest must be a whole number >= 1, got {value} "
            "(to keep nothing, leave keep_latest out)"
        )


def _default_per(selection: Selection) -> KeepPer | None:
    return "configuration" if selection.keep_latest is not None else None


def _keep_latest_per(selection: Selection, __: attrs.Attribute[Any], value: object) -> None:
    if value is None and selection.keep_latest is None:
        return
    if value not in _KEY_FIELDS:
        raise InputError(
            f"keep_latest_per must be 'configuration', 'scenario' or 'executable', not {value!r}"
        )
    if selection.keep_latest is None:
        raise InputError("keep_latest_per needs keep_latest")


@attrs.frozen(kw_only=True)
class Selection:
    """Which items to take from the list endpoint; the filters combine with "and".

    Arguments are checked and normalised when the selection is built: a wrong type or value
    raises :class:`InputError` naming the field, before anything is sent.

    Attributes:
        statuses: Any of these statuses (none: every status). Given as one status or many,
            as :class:`Status` members or their names in any case (``"dead"``); kept as a
            tuple of distinct members.
        scenario_id: Only this scenario.
        executable_ids: Any of these executables (one ID or many; kept as a tuple).
        configuration_id: Only this configuration.
        older_than: Only items whose ``age_field`` is more than this old: a
            :class:`datetime.timedelta` or seconds; kept as float seconds.
        age_field: ``created`` (``createdAt``) or ``completion`` (``completionTime``; items
            that have not completed never match).
        keep_latest: Among what the other filters take, keep the N newest (by ``createdAt``)
            of each ``keep_latest_per`` key: they are left alone, and listed in the plan with
            the reason. A whole number >= 1 (None: keep nothing). Between equal
            ``createdAt``, the greater ID (in code-point order) counts as newer. An item
            without ``createdAt`` or without the key is kept, since it cannot be ranked.
        keep_latest_per: ``configuration`` (the default when ``keep_latest`` is given),
            ``scenario`` or ``executable``; only with ``keep_latest``.
    """

    statuses: tuple[Status, ...] = attrs.field(default=(), converter=_statuses)
    scenario_id: str | None = attrs.field(default=None, validator=_id)
    executable_ids: tuple[str, ...] = attrs.field(
        default=(), converter=_executable_ids, validator=_ids
    )
    configuration_id: str | None = attrs.field(default=None, validator=_id)
    older_than: float | None = attrs.field(default=None, converter=_seconds)
    age_field: AgeField = attrs.field(default="created", validator=_age_field)
    keep_latest: int | None = attrs.field(default=None, validator=_keep_latest)
    keep_latest_per: KeepPer | None = attrs.field(
        default=attrs.Factory(_default_per, takes_self=True), validator=_keep_latest_per
    )

    @property
    def filters_nothing(self) -> bool:
        """True when this selection would take every item of the resource group."""
        return not (
            self.statuses
            or self.scenario_id
            or self.executable_ids
            or self.configuration_id
            or self.older_than is not None
            or self.keep_latest is not None
        )


class Retention:
    """The ``keep`` newest items of each key, found in one pass (see the module docstring).

    :meth:`offer` each selected item in turn; it returns the item it pushes out (selected
    for the change), if any. :meth:`close` ends the pass and fills :attr:`kept`.
    """

    def __init__(self, keep: int, per: KeepPer) -> None:
        self.keep, self.per, self._field = keep, per, _KEY_FIELDS[per]
        self._heaps: dict[str, list[tuple[float, str, Seen]]] = {}
        #: IDs now held: an item listed twice (pages shift, or it changed status between
        #: two status listings) must not take two places among its key's newest.
        self._held: set[str] = set()
        self._unranked: list[KeptItem] = []
        #: What is kept, by key, newest first; filled by :meth:`close`.
        self.kept: tuple[KeptItem, ...] = ()

    @classmethod
    def of(cls, selection: Selection) -> Retention | None:
        """The selection's retention, or None when it keeps nothing."""
        if selection.keep_latest is None or selection.keep_latest_per is None:
            return None
        return cls(selection.keep_latest, selection.keep_latest_per)

    def offer(
        self, item_id: str, seen: Seen, resource: Mapping[str, Any]
    ) -> tuple[str, Seen] | None:
        """Hold the item if it is among its key's newest so far; returns what falls out."""
        if item_id in self._held:
            return None
        key = resource.get(self._field)
        created = _moment(resource.get("createdAt"))
        if not isinstance(key, str) or not key or created is None:
            self._held.add(item_id)
            missing = "createdAt" if created is None else self._field
            self._unranked.append(KeptItem(item_id, _status(seen), f"no {missing} to rank it by"))
            return None
        heap = self._heaps.setdefault(key, [])
        if len(heap) == self.keep:
            oldest, oldest_id, _ = heap[0]
            if created < oldest or (created == oldest and item_id < oldest_id):
                return item_id, seen  # older than all held: selected without touching the heap
        self._held.add(item_id)
        # (createdAt, ID) is unique per held item, so the status is never compared.
        entry = (created, item_id, seen)
        if len(heap) < self.keep:
            heapq.heappush(heap, entry)
            return None
        _, out_id, out_seen = heapq.heapreplace(heap, entry)
        self._held.discard(out_id)
        return out_id, out_seen

    def close(self) -> None:
        """End the pass: what the heaps hold is kept, by key, newest first."""
        newest = f"one of the {self.keep} newest" if self.keep > 1 else "the newest"
        kept = [
            KeptItem(item_id, _status(seen), f"{newest} of {self.per} {key}")
            for key in sorted(self._heaps)
            for _, item_id, seen in sorted(self._heaps[key], reverse=True)
        ]
        self.kept = (*kept, *self._unranked)
        self._heaps.clear()
        self._held.clear()


def _status(seen: Seen) -> Status:
    return seen.status if isinstance(seen, Deleting) else seen


def _moment(stamp: object) -> float | None:
    """An ISO 8601 timestamp as POSIX seconds (UTC when it names no zone), or None."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


async def select_statuses(
    api: Api,
    kind: Kind,
    selection: Selection,
    *,
    page_size: int,
    now: Callable[[], float],
    retention: Retention | None = None,
) -> AsyncIterator[tuple[str, Seen]]:
    """The items the selection takes and the status each was listed with, page by page.

    One page is in memory at a time. The statuses let a run skip reading them all again.
    With ``retention``, the items it keeps are not yielded; once the listing is done, its
    ``kept`` says which and why.
    """
    filters = _filters(selection)
    cutoff = None if selection.older_than is None else now() - selection.older_than
    field = "createdAt" if selection.age_field == "created" else "completionTime"
    # The list endpoint filters by one status at a time.
    for status in selection.statuses or (None,):
        async for page in api.list_resources(
            kind,
            status=status,
            page_size=page_size,
            filters=filters,
            # Whole resources: their targetStatus tells a deletion already scheduled, and
            # retention needs scenarioId and executableId, which the spec's only $select
            # (status: the schema's required fields) leaves out.
            full=True,
        ):
            for entry in page:
                seen = seen_in(entry)  # not None: the list left out entries without a status
                if seen is None or (cutoff is not None and not _older(entry.get(field), cutoff)):
                    continue
                if retention is None:
                    yield entry["id"], seen
                elif (out := retention.offer(entry["id"], seen, entry)) is not None:
                    yield out
    if retention is not None:
        retention.close()


def _filters(selection: Selection) -> dict[str, str]:
    """The list endpoint's own filters for the selection (status aside)."""
    filters: dict[str, str] = {}
    if selection.scenario_id:
        filters["scenarioId"] = selection.scenario_id
    if selection.executable_ids:
        filters["executableIds"] = ",".join(selection.executable_ids)
    if selection.configuration_id:
        filters["configurationId"] = selection.configuration_id
    return filters


def _older(stamp: object, cutoff: float) -> bool:
    moment = _moment(stamp)
    return moment is not None and moment < cutoff
