"""The per-item state machine: what one item's next step is, given what just happened to it.

Each function takes an item's :class:`ItemState` and one event (an answer, a failed request,
a fresh read, a look at the STOPPING items, the end of the run) and returns an *action*:

* :class:`Settle`: the item's outcome is final;
* :class:`Send`: queue this change (a resend, or the next step after a fresh status);
* :class:`Recheck`: read the item again before anything else is sent for it;
* :data:`WAIT`: wait for it to leave STOPPING;
* ``None``: nothing to do (already settled, or still waiting).

:func:`at_final_read` is the last word on an item still in doubt when the run is over.

No I/O and no clock: time comes in as numbers. The only thing a function changes is the
item's own state (its flags and counters), so every rule is a table test away.

The rules that need care are about our *own* earlier changes. A request whose answer never
came may have acted; after it, "not found" for a delete is our own doing, and "cannot be
changed" for a stop may be our stop at work. Such items are read again, never sent again
blindly, and the read is interpreted with those flags in mind.
"""

from __future__ import annotations

from typing import ClassVar, Final, NamedTuple

from aicore_bulk._models import (
    KINDS,
    SETTLED_ROUTES,
    STOPPABLE,
    Deleting,
    ItemAnswer,
    Kind,
    Op,
    Outcome,
    Route,
    Seen,
    Status,
    Target,
    deletable,
)
from aicore_bulk._planner import decide, first_op

#: How often one item may be read again before we give up on it.
MAX_REREADS: Final = 3
#: A change throttled this many times (each after a pause) is given up.
MAX_THROTTLES: Final = 24
#: A change that never got an answer is sent at most this many times.
MAX_ATTEMPTS: Final = 6
#: Stands for a queued change that newer knowledge forbids.
STALE: Final = ItemAnswer("refused", None, "planned before the item's status changed")
#: Stands for an item that a request carried but whose answer did not mention it.
NO_ANSWER: Final = ItemAnswer("refused", None, "no answer for this item")
#: The outcome of each route that sends nothing.
SETTLED_OUTCOME: Final = {
    Route.UNCHANGED: Outcome.UNCHANGED,
    Route.ABSENT: Outcome.ALREADY_ABSENT,
    Route.SKIP: Outcome.SKIPPED,
    Route.DELETING: Outcome.ALREADY_DELETING,
}
_GONE_AFTER_OUR_DELETE: Final = "gone after our unconfirmed delete"
#: Why an interrupted run skipped an item: no request ever carried it.
NOT_SENT: Final = "interrupted before sending"
_SCHEDULED_AFTER_OUR_DELETE: Final = "deletion scheduled after our unconfirmed delete"

UNCONFIRMED, DELETE_UNSURE, STOPPED_BY_US, IN_FLIGHT, DELETING = 1, 2, 4, 8, 16


class ItemState:
    """Everything a run knows about one item.

    A million of these live at once, so they are kept small: five flags share one int, and
    what few items need (re-reads, 429s, a stop wait) lives in a side object made on demand.
    """

    __slots__ = ("_rare", "attempts", "code", "flags", "message", "outcome", "route", "status")

    def __init__(self) -> None:
        # No arguments and plain stores: a million of these are made before anything is sent.
        self.status: Status | None = None
        self.route: Route | None = None
        self.outcome: Outcome | None = None
        self.code: str | None = None
        self.message: str | None = None
        self.attempts = 0
        self.flags = 0
        self._rare: Rare | None = None

    @classmethod
    def resumed(
        cls, *, attempts: int, unconfirmed: bool, delete_unsure: bool, stopped_by_us: bool
    ) -> ItemState:
        """An item an earlier session left open, with what the journal says it did to it."""
        state = cls()
        state.attempts = attempts
        state.unconfirmed = unconfirmed
        state.delete_unsure = delete_unsure
        state.stopped_by_us = stopped_by_us
        return state

    #: Flags a resumed run starts with: its earlier changes, which the plan must mind.
    EARLIER_CHANGES: ClassVar[int] = UNCONFIRMED | STOPPED_BY_US

    def __repr__(self) -> str:
        return f"<ItemState {self.status} {self.route} {self.outcome} flags={self.flags:05b}>"

    def _flag(self, bit: int) -> bool:
        return bool(self.flags & bit)

    def _set(self, bit: int, value: bool) -> None:  # noqa: FBT001 - a setter's value
        self.flags = self.flags | bit if value else self.flags & ~bit

    @property
    def unconfirmed(self) -> bool:
        """A request carrying this item may have acted without telling us."""
        return self._flag(UNCONFIRMED)

    @unconfirmed.setter
    def unconfirmed(self, value: bool) -> None:
        self._set(UNCONFIRMED, value)

    @property
    def delete_unsure(self) -> bool:
        """Our *delete* may have happened unseen: "not found" afterwards is our own doing."""
        return self._flag(DELETE_UNSURE)

    @delete_unsure.setter
    def delete_unsure(self, value: bool) -> None:
        self._set(DELETE_UNSURE, value)

    @property
    def stopped_by_us(self) -> bool:
        """Our stop was accepted (the item is on its way to STOPPED because of us)."""
        return self._flag(STOPPED_BY_US)

    @stopped_by_us.setter
    def stopped_by_us(self, value: bool) -> None:
        self._set(STOPPED_BY_US, value)

    @property
    def in_flight(self) -> bool:
        """A request carrying this item is under way."""
        return self._flag(IN_FLIGHT)

    @in_flight.setter
    def in_flight(self, value: bool) -> None:
        self._set(IN_FLIGHT, value)

    @property
    def deleting(self) -> bool:
        """A read showed its deletion already scheduled (``targetStatus: DELETED``)."""
        return self._flag(DELETING)

    def take(self, seen: Seen) -> None:
        """A read's news: the status, and whether its deletion is already scheduled.

        A scheduled deletion is not undone, so the flag stays once a read has shown it (a
        later read that does not carry ``targetStatus`` says nothing about it).
        """
        if isinstance(seen, Deleting):
            self.status = seen.status
            self.flags |= DELETING
        else:
            self.status = seen

    @property
    def rare(self) -> Rare:
        """Counters few items ever need, made on first use."""
        if self._rare is None:
            self._rare = Rare()
        return self._rare

    @property
    def waiting_since(self) -> float | None:
        """When the item started waiting for STOPPING to pass (None: never)."""
        return self._rare.waiting_since if self._rare is not None else None

    def forget_status(self) -> None:
        """The status no longer holds (the item left STOPPING, or is gone).

        ``status`` becomes None, which forbids no change (see :func:`still_allowed`); the
        report still shows the status we saw last (:attr:`last_seen`).
        """
        if self.status is not None:
            self.rare.last_status = self.status
            self.status = None

    @property
    def last_seen(self) -> Status | None:
        """The last status we saw, for the report (None: never seen)."""
        if self.status is not None or self._rare is None:
            return self.status
        return self._rare.last_status


class Rare:
    """Counters few items need (a plain class: made for every item that waits for a stop)."""

    __slots__ = ("last_status", "rereads", "throttles", "waiting_since")

    def __init__(self) -> None:
        self.rereads = 0
        self.throttles = 0
        self.waiting_since: float | None = None
        #: The status seen before :meth:`ItemState.forget_status`, for the report.
        self.last_status: Status | None = None


# The actions.


class Settle(NamedTuple):
    """The item's outcome is final."""

    outcome: Outcome
    code: str | None
    message: str | None


class Send(NamedTuple):
    """Queue this change for the item."""

    op: Op


class Recheck(NamedTuple):
    """Read the item again, then call :func:`after_read` with ``answer`` and the read."""

    op: Op
    answer: ItemAnswer


class Wait(NamedTuple):
    """Wait for the item to leave STOPPING, then delete it."""


WAIT: Final = Wait()
Action = Settle | Send | Recheck | Wait | None


class Unreadable(NamedTuple):
    """A read that failed: why."""

    message: str


class Goal(NamedTuple):
    """What every transition of one run needs to know besides the item."""

    kind: Kind
    target: Target
    #: PENDING and RUNNING deployments may be stopped (they serve traffic: only when asked).
    include_running: bool = False

    def decide(self, status: Status | None, *, deleting: bool = False) -> tuple[Route, str | None]:
        """The route this run gives an item in ``status``, and why when nothing is sent."""
        return decide(
            self.kind,
            self.target,
            status,
            include_running=self.include_running,
            deleting=deleting,
        )


def still_allowed(goal: Goal, op: Op, state: ItemState) -> bool:
    """Whether what we last saw of the item allows this change in this run.

    A status of None (not seen, or no longer STOPPING) gives us no reason not to; a deletion
    already scheduled forbids every change.
    """
    if state.flags & DELETING:
        return False
    return state.status in _ALLOWED[goal.kind, goal.include_running][op.target]


_ALLOWED: Final = {
    (kind, include_running): {
        # A serving deployment is stopped only with include_running: the same rule as decide.
        Target.STOPPED: frozenset(
            {None, *(STOPPABLE if include_running or kind != "deployments" else ())}
        ),
        Target.DELETED: frozenset({None, *(s for s in Status if deletable(kind, s))}),
    }
    for kind in KINDS
    for include_running in (False, True)
}


def _gave_up(state: ItemState, code: str | None, message: str | None) -> Settle:
    """A refusal or a lost answer: ``unknown`` if an earlier try may have acted, else failed."""
    return Settle(Outcome.UNKNOWN if state.unconfirmed else Outcome.FAILED, code, message)


def after_answer(  # noqa: PLR0911 - one return per row of the answer table
    goal: Goal, state: ItemState, op: Op, answer: ItemAnswer | None, *, unsure: bool
) -> Action:
    """The service answered the request that carried ``op`` (``answer`` None: not this item).

    ``unsure``: an earlier try of the same request may have acted before this answer came.
    """
    state.flags &= ~IN_FLIGHT
    if state.outcome is not None:
        return None
    # No answer for an item (a cut-off body) is as unsure as an unsure request.
    if answer is None or unsure:
        state.flags |= UNCONFIRMED | (DELETE_UNSURE if op.target is Target.DELETED else 0)
    if answer is None:
        # The change may have happened: find out before sending anything again.
        return _recheck(state, op, NO_ANSWER)
    kind = answer.kind
    if kind == "accepted":
        if op.target is Target.DELETED:
            return Settle(Outcome.DELETED, None, answer.message)
        state.flags |= STOPPED_BY_US
        if goal.target is Target.STOPPED:
            return Settle(Outcome.STOPPED, None, answer.message)
        return WAIT
    if kind == "conflict":
        # "Cannot be changed": the status moved under us. Read it, then take its route.
        return _recheck(state, op, answer)
    if kind == "not_found":
        if state.flags & DELETE_UNSURE:
            # After an unconfirmed delete, "not found" is most likely our own doing.
            return Settle(Outcome.DELETED, None, _GONE_AFTER_OUR_DELETE)
        return Settle(Outcome.ALREADY_ABSENT, answer.code, answer.message)
    # A refusal after an unsure earlier try says nothing about that try.
    return _gave_up(state, answer.code, answer.message)


def after_failure(
    state: ItemState,
    op: Op,
    *,
    maybe_applied: bool,
    throttled: bool,
    unsure: bool,
    message: str,
    budget_left: bool,
) -> Action:
    """The request that carried ``op`` got no usable answer.

    A try that never acted (a 429, a refused token, no connection) is sent again, within its
    allowance: 429s have their own, larger one, other failures draw on the run's retry budget
    (``budget_left``, taken once per request). A try that may have acted is read again.
    """
    state.in_flight = False
    if state.outcome is not None:
        return None
    state.unconfirmed |= unsure
    if (unsure or maybe_applied) and op.target is Target.DELETED:
        state.delete_unsure = True
    if maybe_applied:
        # It may have happened: read what did, then re-plan (never a blind re-send).
        state.unconfirmed = True
        return _recheck(state, op, ItemAnswer("refused", None, message))
    if throttled:
        state.rare.throttles += 1
        allowed = state.rare.throttles <= MAX_THROTTLES
    else:
        allowed = budget_left and state.attempts < MAX_ATTEMPTS
    return Send(op) if allowed else _gave_up(state, None, message)


def _recheck(state: ItemState, op: Op, answer: ItemAnswer) -> Recheck | Settle:
    """Read the item again, unless it has been read again too often already."""
    rare = state.rare
    if rare.rereads >= MAX_REREADS:
        return _gave_up(state, answer.code, answer.message)
    rare.rereads += 1
    return Recheck(op, answer)


def after_read(
    goal: Goal, state: ItemState, op: Op, answer: ItemAnswer, read: Seen | Unreadable | None
) -> Action:
    """A fresh status for an item whose change surprised us (or went stale in the queue).

    ``read`` is the status (None: not found), or why it could not be read.
    """
    if state.outcome is not None:
        return None
    if isinstance(read, Unreadable):
        return _gave_up(state, answer.code, f"{answer.message}; {read.message}")
    if read is None:
        state.forget_status()
    else:
        state.take(read)
    status = state.status
    if state.unconfirmed and op.target is Target.STOPPED and status is Status.STOPPING:
        state.stopped_by_us = True  # our unconfirmed stop did happen
    route, reason = goal.decide(status, deleting=state.deleting)
    minded = mind_own_changes(goal, state, route)
    if isinstance(minded, Settle):
        return minded
    state.route = minded
    if minded in SETTLED_ROUTES:
        return Settle(
            SETTLED_OUTCOME[minded], answer.code if minded is Route.SKIP else None, reason
        )
    if minded is Route.WAIT_THEN_DELETE:
        return WAIT
    target = first_op(minded)
    return None if target is None else Send(Op(op.id, target))


def mind_own_changes(goal: Goal, state: ItemState, route: Route) -> Route | Settle:
    """The route a status calls for, minding our own earlier changes to the item."""
    status = state.status
    if status is None and state.delete_unsure:
        return Settle(Outcome.DELETED, None, _GONE_AFTER_OUR_DELETE)
    if route is Route.DELETING and state.delete_unsure:
        # Our own delete may be what scheduled it: as with "not found" after it.
        return Settle(Outcome.DELETED, None, _SCHEDULED_AFTER_OUR_DELETE)
    if state.unconfirmed and not state.delete_unsure and status is Status.STOPPING:
        # After a resume: an unconfirmed change that was no delete was a stop (a delete
        # sets delete_unsure), and the item is STOPPING: our stop did happen.
        state.stopped_by_us = True
    if state.stopped_by_us and status is not None:
        # Our stop is under way or done: never stop it again.
        if goal.target is Target.STOPPED:
            return Settle(Outcome.STOPPED, None, f"stopped; now {status.value}")
        if route is Route.STOP_THEN_DELETE:
            return Route.WAIT_THEN_DELETE
    return route


def after_look(
    item_id: str,
    state: ItemState,
    *,
    still_stopping: bool | None,
    waited: float,
    stop_wait: float,
) -> Action:
    """A look at the STOPPING items, ``waited`` seconds into the item's stop wait.

    ``still_stopping`` is None when the look failed: the stop wait still runs out.
    """
    if state.outcome is not None:
        return None
    if still_stopping is False:
        state.forget_status()  # no longer STOPPING: nothing we know forbids a delete
        return Send(Op(item_id, Target.DELETED))
    if waited >= stop_wait:
        done = "stopped, but " if state.stopped_by_us else ""
        return Settle(
            Outcome.FAILED, None, f"{done}still STOPPING after {stop_wait:g} s; not deleted"
        )
    return None


def at_final_read(goal: Goal, state: ItemState, read: Seen | None) -> Settle:
    """What one fresh read at the end says of an item left ``unknown`` (``read`` None: gone).

    Nothing is sent any more: the item is settled by what it shows, minding our own changes
    that may have acted unseen. After an unconfirmed delete, "gone" or a deletion scheduled
    means ``deleted``; after an unconfirmed stop, STOPPING or STOPPED means ``stopped``. An
    item that still needs the change this run could not confirm is ``failed``: it is there,
    unchanged, and a new run (or a resume) can finish it.
    """
    if read is None:
        state.forget_status()
    else:
        state.take(read)
    status = state.status
    if state.unconfirmed and not state.delete_unsure and status in _STOPPED_OR_STOPPING:
        # The unconfirmed change was a stop (a delete sets delete_unsure), and it did happen.
        state.stopped_by_us = True
    route, reason = goal.decide(status, deleting=state.deleting)
    minded = mind_own_changes(goal, state, route)
    if isinstance(minded, Settle):
        return minded
    if minded in SETTLED_ROUTES:
        return Settle(SETTLED_OUTCOME[minded], None, reason)
    if goal.target is Target.DELETED:
        done = "stopped, not deleted" if state.stopped_by_us else "not deleted"
    else:
        done = "not stopped"
    shown = status.value if status is not None else "not found"
    return Settle(
        Outcome.FAILED, state.code, f"{done}: still {shown} at the final read ({state.message})"
    )


_STOPPED_OR_STOPPING: Final = frozenset({Status.STOPPING, Status.STOPPED})


def at_end(state: ItemState, reason: str, *, interrupted: bool = False) -> Settle | None:
    """The run ends early (deadline, interruption, a run-wide error) with the item open.

    After an interruption, an item no request ever carried is ``skipped``: the person who
    interrupted the run chose that, and nothing failed.
    """
    if state.outcome is not None:
        return None
    maybe = state.unconfirmed or state.in_flight
    if interrupted and not maybe and state.attempts == 0:
        return Settle(Outcome.SKIPPED, None, NOT_SENT)
    stopped = "stopped, not deleted: " if state.stopped_by_us else ""
    return Settle(Outcome.UNKNOWN if maybe else Outcome.FAILED, None, f"{stopped}{reason}")
