"""Choosing items by what they are, through the list endpoint, a page at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import attrs

from aicore_bulk._api import Api, seen_in
from aicore_bulk._errors import InputError
from aicore_bulk._models import ID_PATTERN, Kind, Seen, Status

AgeField = Literal["created", "completion"]


def _ids(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...] | str | None) -> None:
    for item in (value,) if isinstance(value, str) else value or ():
        if not ID_PATTERN.fullmatch(item):
            raise InputError(f"{attribute.name} {item!r} is not a valid AI Core ID")


@attrs.frozen(kw_only=True)
class Selection:
    """Which items to take from the list endpoint; the filters combine with "and".

    Attributes:
        statuses: Any of these statuses (none: every status).
        scenario_id: Only this scenario.
        executable_ids: Any of these executables.
        configuration_id: Only this configuration.
        older_than: Only items whose ``age_field`` is more than this many seconds old.
        age_field: ``created`` (``createdAt``) or ``completion`` (``completionTime``; items
            that have not completed never match).
    """

    statuses: tuple[Status, ...] = ()
    scenario_id: str | None = attrs.field(default=None, validator=_ids)
    executable_ids: tuple[str, ...] = attrs.field(default=(), validator=_ids)
    configuration_id: str | None = attrs.field(default=None, validator=_ids)
    older_than: float | None = None
    age_field: AgeField = "created"

    def __attrs_post_init__(self) -> None:
        if self.older_than is not None and self.older_than < 0:
            raise InputError("older_than must be >= 0 seconds")
        if self.age_field not in ("created", "completion"):
            raise InputError("age_field must be 'created' or 'completion'")

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
