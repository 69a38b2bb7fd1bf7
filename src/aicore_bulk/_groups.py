"""Which resource groups a run spans: named ones, or every group of the tenant, by label.

A run across groups takes one :class:`ResourceGroups` value. Named groups are used as
given; ``ResourceGroups.all()`` lists the tenant's groups (``GET /v2/admin/resourceGroups``,
which needs a credential with the admin scope), narrowed by :class:`LabelMatch` conditions
that the service itself applies (its ``labelSelector``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

import attrs

from aicore_bulk._errors import InputError

#: One ``labelSelector`` condition, as the spec's pattern has it: ``key=value`` or
#: ``key!=value``, neither side empty nor holding a space, ``=``, ``,`` or ``!``.
_CONDITION: Final = re.compile(r"([^ =,!]+)(!?=)([^ =,!]+)")
#: A resource group ID goes into a header: printable, no space, at most 253 characters
#: (the spec's limit when a group is created).
_GROUP: Final = re.compile(r"[!-~]{1,253}")


@attrs.frozen
class LabelMatch:
    """One label condition on a resource group: ``key=value``, or ``key!=value`` when negated.

    Build it with :meth:`parse` from the text form, or directly.
    """

    key: str
    value: str
    negated: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not _CONDITION.fullmatch(f"{self.key}={self.value}"):
            raise InputError(
                f"label condition {self.key!r}={self.value!r}: neither side may be empty or "
                "hold a space, '=', ',' or '!'"
            )

    @classmethod
    def parse(cls, text: str) -> LabelMatch:
        """``ext.ai.sap.com/team=ml`` or ``ext.ai.sap.com/team!=web``.

        Raises:
            InputError: Not of that form.
        """
        given: object = text
        found = _CONDITION.fullmatch(given) if isinstance(given, str) else None
        if found is None:
            raise InputError(
                f"label condition {text!r} is not KEY=VALUE or KEY!=VALUE "
                "(no spaces, commas or '!' in either side)"
            )
        key, operator, value = found.groups()
        return cls(key, value, negated=operator == "!=")

    def __str__(self) -> str:
        return f"{self.key}{'!=' if self.negated else '='}{self.value}"


def _names(value: Iterable[str]) -> tuple[str, ...]:
    given: object = value
    if isinstance(given, str) or not isinstance(given, Iterable):
        raise InputError("names must be a list of resource group IDs, not one string")
    names: dict[str, None] = {}
    for name in given:
        if not isinstance(name, str) or not _GROUP.fullmatch(name):
            raise InputError(f"{name!r} is not a resource group ID")
        names[name] = None
    return tuple(names)


def _labels(value: Iterable[LabelMatch | str]) -> tuple[LabelMatch, ...]:
    given: object = value
    if isinstance(given, str) or not isinstance(given, Iterable):
        raise InputError("labels must be a list of label conditions, not one string")
    parsed = (item if isinstance(item, LabelMatch) else LabelMatch.parse(item) for item in given)
    return tuple(dict.fromkeys(parsed))


@attrs.frozen(kw_only=True)
class ResourceGroups:
    """The resource groups a run spans.

    ``ResourceGroups(names=("team-a", "team-b"))`` names them; ``ResourceGroups.all()`` takes
    every group of the tenant, and ``ResourceGroups.all(labels=["ext.ai.sap.com/team=ml"])``
    those whose labels match every condition (``key!=value`` excludes).

    Attributes:
        names: The groups, distinct, in the order given; empty for :meth:`all`.
        every: Every group of the tenant (listed when the run starts: admin scope needed).
        labels: Conditions the groups must all meet (only with ``every``).

    """

    names: tuple[str, ...] = attrs.field(default=(), converter=_names)
    every: bool = False
    labels: tuple[LabelMatch, ...] = attrs.field(default=(), converter=_labels)

    def __attrs_post_init__(self) -> None:
        if self.every and self.names:
            raise InputError("name the resource groups or take them all, not both")
        if not self.every and not self.names:
            raise InputError("no resource group: name at least one, or use ResourceGroups.all()")
        if self.labels and not self.every:
            raise InputError("label conditions choose among all groups: use ResourceGroups.all()")

    @classmethod
    def all(cls, *, labels: Iterable[LabelMatch | str] = ()) -> ResourceGroups:
        """Every resource group of the tenant whose labels match all of ``labels``."""
        return cls(every=True, labels=tuple(labels))

    @property
    def selector(self) -> str | None:
        """The ``labelSelector`` query value, or None without conditions."""
        return ",".join(map(str, self.labels)) or None

    def __str__(self) -> str:
        if self.names:
            return ", ".join(self.names)
        return "every resource group" + (f" with {self.selector}" if self.labels else "")
