"""The vocabulary of a cleanup: kinds, statuses, routes, changes, answers and outcomes.

Also the AI API's limits, and the knobs of a run.
"""

from __future__ import annotations

import enum
import re
import string
from typing import Final, Literal, NamedTuple

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


def is_valid_id(value: object) -> bool:
    """Whether ``value`` is an AI Core ID: a string of 4 to 64 letters, digits, ``_.-``."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


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


class Route(enum.StrEnum):
    """What a run will do to one item, given its status (see ``docs/design.md``)."""

    DELETE = "delete"
    STOP = "stop"
    STOP_THEN_DELETE = "stop_then_delete"
    WAIT_THEN_DELETE = "wait_then_delete"
    UNCHANGED = "unchanged"
    ABSENT = "absent"
    SKIP = "skip"
    #: Its deletion is already scheduled (still listed, ``targetStatus: DELETED``): left alone.
    DELETING = "deleting"


#: Routes that send nothing.
SETTLED_ROUTES: Final = frozenset({Route.UNCHANGED, Route.ABSENT, Route.SKIP, Route.DELETING})


class Op(NamedTuple):
    """One change to send: an ID and the target status for it.

    A named tuple, not an attrs class: a million-item cleanup makes a million of them, and a
    tuple is built several times faster.
    """

    id: str
    target: Target


AnswerKind = Literal["accepted", "not_found", "conflict", "refused"]


class ItemAnswer(NamedTuple):
    """What the service said about one item of a change request (a tuple, as :class:`Op`)."""

    kind: AnswerKind
    code: str | None = None
    message: str | None = None


class Outcome(enum.StrEnum):
    """What happened to one item. The first five mean the goal holds."""

    #: We deleted it (the service accepted our delete).
    DELETED = "deleted"
    #: We stopped it (the service accepted our stop).
    STOPPED = "stopped"
    #: Not found: nothing to stop or delete, so the goal holds.
    ALREADY_ABSENT = "already_absent"
    #: Its deletion was already scheduled (still listed with ``targetStatus: DELETED``): it
    #: is going away, so nothing was sent (in a stop run too: it cannot run again).
    ALREADY_DELETING = "already_deleting"
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
    {
        Outcome.DELETED,
        Outcome.STOPPED,
        Outcome.ALREADY_ABSENT,
        Outcome.ALREADY_DELETING,
        Outcome.UNCHANGED,
    }
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


class Deleting(NamedTuple):
    """A read of an item whose deletion is already scheduled (``targetStatus: DELETED``).

    There is no DELETING status: a deleted item stays listed a while in the status it had.
    """

    status: Status


#: What a read shows of an item: its status, or its status and a deletion already scheduled.
Seen = Status | Deleting


def deletable(kind: Kind, status: Status) -> bool:
    """Whether the contract lets an item of this kind and status be deleted right away."""
    return status in _DELETABLE[kind]


@attrs.frozen(kw_only=True)
class Limits:
    """How hard a run may push the service.

    Attributes:
        concurrency: Requests in flight at once, at most: the cap of the adaptive window.
        rate: Requests per second at most, or None for no cap.
        adaptive: Adapt to the service (see ``docs/design.md``): learn its rate limit from
            its 429s and stay under it, and keep only as many requests in flight as it serves
            without queueing them (a window from 16 up to ``concurrency``). False keeps the
            rate fixed (only pausing for ``Retry-After``) and ``concurrency`` requests in flight.
        remember: Start from the limits an earlier run learned from this service and
            tenant, and save what this run learns, in ``$XDG_CACHE_HOME/aicore-bulk/``
            (see ``docs/configuration.md``). Off by default: a library writes to the
            user's home only when asked (the command line asks).

    """

    concurrency: int = attrs.field(
        default=64, validator=number(at_least=1, at_most=256, whole=True)
    )
    rate: float | None = attrs.field(default=None, validator=number(above=0, optional=True))
    adaptive: bool = True
    remember: bool = False


@attrs.frozen(kw_only=True)
class RunOptions:
    """How a run waits, reads and packs; the same for every run of a client.

    Attributes:
        stop_wait: Seconds to wait for a stopped item to leave STOPPING before giving up on it.
        poll_interval: Seconds between looks at the STOPPING items.
        page_size: Items per list page when reading statuses (at most 100,000).
        batch_wait: Seconds a change may wait for others to share its request.
        grace: Seconds requests in flight get to answer after an interruption.

    """

    stop_wait: float = attrs.field(default=600.0, validator=number(at_least=0))
    poll_interval: float = attrs.field(default=2.0, validator=number(at_least=0))
    page_size: int = attrs.field(
        default=100_000, validator=number(at_least=1, at_most=100_000, whole=True)
    )
    batch_wait: float = attrs.field(default=10.0, validator=number(at_least=0))
    grace: float = attrs.field(default=5.0, validator=number(at_least=0))
