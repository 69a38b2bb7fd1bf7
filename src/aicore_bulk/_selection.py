"""Choosing items by what they are, through the list endpoint, a page at a time."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final, Literal, cast

import attrs

from aicore_bulk._api import Api, seen_in
from aicore_bulk._errors import InputError
from aicore_bulk._models import ID_PATTERN, STATUS_BY_VALUE, Kind, Seen, Status

AgeField = Literal["created", "completion"]

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
    """

    statuses: tuple[Status, ...] = attrs.field(default=(), converter=_statuses)
    scenario_id: str | None = attrs.field(default=None, validator=_id)
    executable_ids: tuple[str, ...] = attrs.field(
        default=(), converter=_executable_ids, validator=_ids
    )
    configuration_id: str | None = attrs.field(default=None, validator=_id)
    older_than: float | None = attrs.field(default=None, converter=_seconds)
    age_field: AgeField = attrs.field(default="created", validator=_age_field)

    @property
    def filters_nothing(self) -> bool:
        """True when this selection would take every item of the resource group."""
        return not (
            self.statuses
            or self.scenario_id
            or self.executable_ids
            or self.configuration_id
            or self.older_than is not None
        )


async def select_statuses(
    api: Api,
    kind: Kind,
    selection: Selection,
    *,
    page_size: int,
    now: Callable[[], float],
) -> AsyncIterator[tuple[str, Seen]]:
    """The items the selection takes and the status each was listed with, page by page.

    One page is in memory at a time. The statuses let a run skip reading them all again.
    """
    filters: dict[str, str] = {}
    if selection.scenario_id:
        filters["scenarioId"] = selection.scenario_id
    if selection.executable_ids:
        filters["executableIds"] = ",".join(selection.executable_ids)
    if selection.configuration_id:
        filters["configurationId"] = selection.configuration_id
    cutoff = None if selection.older_than is None else now() - selection.older_than
    field = "createdAt" if selection.age_field == "created" else "completionTime"
    # The list endpoint filters by one status at a time.
    for status in selection.statuses or (None,):
        async for page in api.list_resources(
            kind,
            status=status,
            page_size=page_size,
            filters=filters,
            # Whole resources: their targetStatus tells a deletion already scheduled.
            full=True,
        ):
            for entry in page:
                seen = seen_in(entry)  # not None: the list left out entries without a status
                if seen is not None and (cutoff is None or _older(entry.get(field), cutoff)):
                    yield entry["id"], seen


def _older(stamp: object, cutoff: float) -> bool:
    if not isinstance(stamp, str):
        return False
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp() < cutoff
