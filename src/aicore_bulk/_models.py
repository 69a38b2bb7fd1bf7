"""The vocabulary of a cleanup: kinds, statuses, targets, outcomes and the AI API's limits."""

from __future__ import annotations

import enum
import re
import string
from typing import Final, Literal

import attrs

from aicore_bulk._checks import number

Kind = Literal["executions", "deployments"]
KINDS: Final[tuple[Kind, ...]] = ("executions", "deployments")

#: At most this many items in one bulk PATCH (``maxItems: 100`` in the spec).
MAX_BATCH: Final = 100

#: The spec's ``AiId`` (``^[\w.-]{4,64}$``): 4 to 64 of these characters. Anything else is
#: refused before a request is sent.
ID_CHARACTERS: Final = string.ascii_letters + string.digits + "_.-"
ID_LENGTH: Final = (4, 64)
ID_PATTERN: Final = re.compile(f"[{re.escape(ID_CHARACTERS)}]{{{ID_LENGTH[0]},{ID_LENGTH[1]}}}")


class Target(enum.StrEnum):
    """What a cleanup asks for."""

    STOPPED = "STOPPED"
    DELETED = "DELETED"


class Status(enum.StrEnum):
    """An execution's or deployment's status, as the AI API reports it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    DEAD = "DEAD"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    UNKNOWN = "UNKNOWN"


class Outcome(enum.StrEnum):
    """What happened to one item. The first four mean the goal holds."""

    #: We deleted it (the service accepted our delete).
    DELETED = "deleted"
    #: We stopped it (the service accepted our stop).
    STOPPED = "stopped"
    #: Not found: nothing to stop or delete, so the goal holds.
    ALREADY_ABSENT = "already_absent"
    #: The goal already held (a stop of a COMPLETED item, say); nothing was sent.
    UNCHANGED = "unchanged"
    #: The rules forbid the change and waiting cannot help; the message says why.
    SKIPPED = "skipped"
    #: Refused, or retries ran out; the code and message say why.
    FAILED = "failed"
    #: Sent, but never confirmed: the item may or may not have changed.
    UNKNOWN = "unknown"

    @property
    def ok(self) -> bool:
        """Whether the item reached its goal or needed nothing."""
        return self in _OK


_OK: Final = frozenset(
    {Outcome.DELETED, Outcome.STOPPED, Outcome.ALREADY_ABSENT, Outcome.UNCHANGED}
)

#: The per-item codes of the contract.
CODE_STATUS_CONFLICT: Final = "01010076"
CODE_NOT_FOUND: Final = frozenset({"01010020", "01010016"})

#: Statuses by their text: a dict lookup is several times cheaper than ``Status(text)``.
STATUS_BY_VALUE: Final[dict[str, Status]] = {status.value: status for status in Status}
STOPPABLE: Final = frozenset({Status.PENDING, Status.RUNNING})
_DELETABLE: Final[dict[Kind, frozenset[Status]]] = {
    "executions": frozenset({Status.STOPPED, Status.DEAD, Status.UNKNOWN, Status.COMPLETED}),
    "deployments": frozenset({Status.STOPPED, Status.DEAD, Status.UNKNOWN}),
}


def deletable(kind: Kind, status: Status) -> bool:
    """Whether the contract lets an item of this kind and status be deleted right away."""
    return status in _DELETABLE[kind]


@attrs.frozen(kw_only=True)
class Limits:
    """How hard a run may push the service.

    Attributes:
        concurrency: Requests in flight at once.
        rate: Requests per second at most, or None for no cap.
        adaptive: Learn the service's limit from its 429s and stay under it (see
            ``docs/design.md``); False keeps the rate fixed and only pauses for ``Retry-After``.

    """

    concurrency: int = attrs.field(
        default=16, validator=number(at_least=1, at_most=256, whole=True)
    )
    rate: float | None = attrs.field(default=None, validator=number(above=0, optional=True))
    adaptive: bool = True
