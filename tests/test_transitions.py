"""The per-item state machine: an item's state and one event give the next action."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicore_bulk._models import (
    CODE_STATUS_CONFLICT,
    Deleting,
    ItemAnswer,
    Op,
    Outcome,
    Route,
    Status,
    Target,
)
from aicore_bulk._transitions import (
    DELETING,
    IN_FLIGHT,
    MAX_ATTEMPTS,
    MAX_REREADS,
    MAX_THROTTLES,
    NO_ANSWER,
    STALE,
    WAIT,
    Goal,
    ItemState,
    Recheck,
    Send,
    Settle,
    Unreadable,
    after_answer,
    after_failure,
    after_look,
    after_read,
    at_end,
    at_final_read,
    mind_own_changes,
    still_allowed,
)

ITEM = "exec0001"
STOP = Op(ITEM, Target.STOPPED)
DELETE = Op(ITEM, Target.DELETED)

DELETE_RUN = Goal("executions", Target.DELETED)
STOP_RUN = Goal("executions", Target.STOPPED)
DEPLOYMENT_DELETE_RUN = Goal("deployments", Target.DELETED)
DEPLOYMENT_STOP_RUN = Goal("deployments", Target.STOPPED)
SERVING_DELETE_RUN = Goal("deployments", Target.DELETED, include_running=True)
SERVING_STOP_RUN = Goal("deployments", Target.STOPPED, include_running=True)

ACCEPTED = ItemAnswer("accepted", None, "Execution modification scheduled")
CONFLICT = ItemAnswer("conflict", CODE_STATUS_CONFLICT, "Current status RUNNING cannot be changed")
NOT_FOUND = ItemAnswer("not_found", "01010020", "Execution not found")
REFUSED = ItemAnswer("refused", "01010099", "Not allowed")
GONE = "gone after our unconfirmed delete"
SERVING = "a {} deployment serves traffic: not stopped without include_running (--include-running)"
SCHEDULED = "its deletion is already scheduled (targetStatus DELETED)"

#: The contract's table: which statuses each change is allowed from.
CONTRACT_STOPPABLE = frozenset({Status.PENDING, Status.RUNNING})
CONTRACT_DELETABLE = {
    "executions": frozenset({Status.STOPPED, Status.DEAD, Status.UNKNOWN, Status.COMPLETED}),
    "deployments": frozenset({Status.STOPPED, Status.DEAD, Status.UNKNOWN}),
}


def item(
    *,
    unconfirmed=False,
    delete_unsure=False,
    stopped_by_us=False,
    in_flight=False,
    attempts=0,
    outcome=None,
):
    state = ItemState.resumed(
        attempts=attempts,
        unconfirmed=unconfirmed,
        delete_unsure=delete_unsure,
        stopped_by_us=stopped_by_us,
    )
    state.in_flight = in_flight
    state.outcome = outcome
    return state


def flags_of(state):
    """The named flags that are set, as a set of names."""
    names = ("unconfirmed", "delete_unsure", "stopped_by_us", "in_flight")
    return {name for name in names if getattr(state, name)}


def snapshot(state):
    rare = state._rare
    rare_counts = None if rare is None else (rare.rereads, rare.throttles, rare.waiting_since)
    return (
        state.status,
        state.route,
        state.outcome,
        state.code,
        state.message,
        state.attempts,
        state.flags,
        rare_counts,
    )


# Strategies.

kinds = st.sampled_from(["executions", "deployments"])
targets = st.sampled_from(list(Target))
goals = st.builds(Goal, kinds, targets, st.booleans())
ops = st.builds(Op, st.just(ITEM), targets)
statuses = st.none() | st.sampled_from(list(Status))
scheduled = st.builds(Deleting, st.sampled_from(list(Status)))
answer_kinds = st.sampled_from(["accepted", "not_found", "conflict", "refused"])
answers = st.builds(
    ItemAnswer, answer_kinds, st.none() | st.sampled_from(["01010076", "01010020", "x"]), st.text()
)
reads = statuses | scheduled | st.builds(Unreadable, st.text())


@st.composite
def states(draw, *, settled):
    state = ItemState()
    state.flags = draw(st.integers(0, 31))
    state.attempts = draw(st.integers(0, MAX_ATTEMPTS + 1))
    state.status = draw(statuses)
    if draw(st.booleans()):
        state.rare.rereads = draw(st.integers(0, MAX_REREADS + 1))
        state.rare.throttles = draw(st.integers(0, MAX_THROTTLES + 1))
    if settled:
        state.outcome = draw(st.sampled_from(list(Outcome)))
    return state


# after_answer


@pytest.mark.parametrize(
    ("goal", "op", "answer", "unsure", "before", "action", "after"),
    [
        pytest.param(
            DELETE_RUN,
            DELETE,
            ACCEPTED,
            False,
            {},
            Settle(Outcome.DELETED, None, ACCEPTED.message),
            set(),
            id="accepted-delete-is-deleted",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            ACCEPTED,
            False,
            {},
            Settle(Outcome.STOPPED, None, ACCEPTED.message),
            {"stopped_by_us"},
            id="accepted-stop-in-stop-run-is-stopped-by-us",
        ),
        pytest.param(
            DELETE_RUN,
            STOP,
            ACCEPTED,
            False,
            {},
            WAIT,
            {"stopped_by_us"},
            id="accepted-stop-in-delete-run-waits",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            ACCEPTED,
            True,
            {},
            Settle(Outcome.DELETED, None, ACCEPTED.message),
            {"unconfirmed", "delete_unsure"},
            id="accepted-unsure-delete-is-deleted-and-flagged",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            CONFLICT,
            False,
            {},
            Recheck(DELETE, CONFLICT),
            set(),
            id="conflict-is-read-again",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            CONFLICT,
            True,
            {},
            Recheck(STOP, CONFLICT),
            {"unconfirmed"},
            id="conflict-on-unsure-stop-is-read-again-and-unconfirmed",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            NOT_FOUND,
            False,
            {},
            Settle(Outcome.ALREADY_ABSENT, NOT_FOUND.code, NOT_FOUND.message),
            set(),
            id="not-found-is-already-absent-with-code",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            NOT_FOUND,
            False,
            {"unconfirmed": True, "delete_unsure": True},
            Settle(Outcome.DELETED, None, GONE),
            {"unconfirmed", "delete_unsure"},
            id="not-found-after-unconfirmed-delete-is-our-delete",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            NOT_FOUND,
            True,
            {},
            Settle(Outcome.DELETED, None, GONE),
            {"unconfirmed", "delete_unsure"},
            id="not-found-on-unsure-delete-request-is-our-delete",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            NOT_FOUND,
            True,
            {},
            Settle(Outcome.ALREADY_ABSENT, NOT_FOUND.code, NOT_FOUND.message),
            {"unconfirmed"},
            id="not-found-on-unsure-stop-is-already-absent",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            REFUSED,
            False,
            {},
            Settle(Outcome.FAILED, REFUSED.code, REFUSED.message),
            set(),
            id="refused-is-failed",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            REFUSED,
            False,
            {"unconfirmed": True},
            Settle(Outcome.UNKNOWN, REFUSED.code, REFUSED.message),
            {"unconfirmed"},
            id="refused-after-unconfirmed-try-is-unknown",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            REFUSED,
            True,
            {},
            Settle(Outcome.UNKNOWN, REFUSED.code, REFUSED.message),
            {"unconfirmed"},
            id="refused-on-unsure-request-is-unknown",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            None,
            False,
            {},
            Recheck(STOP, NO_ANSWER),
            {"unconfirmed"},
            id="no-answer-for-stop-is-read-again-and-unconfirmed",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            None,
            False,
            {},
            Recheck(DELETE, NO_ANSWER),
            {"unconfirmed", "delete_unsure"},
            id="no-answer-for-delete-is-read-again-and-delete-unsure",
        ),
    ],
)
def test_after_answer_follows_the_answer_table(goal, op, answer, unsure, before, action, after):
    """Each answer gives its row's action and flags, and clears the in-flight flag."""
    state = item(in_flight=True, **before)

    assert after_answer(goal, state, op, answer, unsure=unsure) == action
    assert flags_of(state) == after


@pytest.mark.parametrize("answer", [ACCEPTED, CONFLICT, NOT_FOUND, REFUSED, None], ids=repr)
def test_after_answer_leaves_a_settled_item_alone_but_clears_in_flight(answer):
    """An item that already has an outcome gets no action; only its in-flight flag is cleared."""
    state = item(unconfirmed=True, in_flight=True, outcome=Outcome.STOPPED)

    assert after_answer(DELETE_RUN, state, DELETE, answer, unsure=True) is None
    assert flags_of(state) == {"unconfirmed"}
    assert state._rare is None


# The re-read limit.


@pytest.mark.parametrize(
    ("unconfirmed", "outcome"),
    [
        pytest.param(False, Outcome.FAILED, id="confirmed-fails"),
        pytest.param(True, Outcome.UNKNOWN, id="unconfirmed-is-unknown"),
    ],
)
def test_conflicts_beyond_the_reread_limit_settle_instead_of_reading_again(unconfirmed, outcome):
    """After MAX_REREADS re-reads, the next conflict settles the item with the conflict's code."""
    state = item(unconfirmed=unconfirmed)

    for _ in range(MAX_REREADS):
        assert after_answer(DELETE_RUN, state, DELETE, CONFLICT, unsure=False) == Recheck(
            DELETE, CONFLICT
        )

    assert after_answer(DELETE_RUN, state, DELETE, CONFLICT, unsure=False) == Settle(
        outcome, CONFLICT.code, CONFLICT.message
    )


def test_a_missing_answer_beyond_the_reread_limit_is_unknown():
    """A missing answer after the re-read limit settles as unknown: the change may have acted."""
    state = item()
    state.rare.rereads = MAX_REREADS

    assert after_answer(STOP_RUN, state, STOP, None, unsure=False) == Settle(
        Outcome.UNKNOWN, None, NO_ANSWER.message
    )


def test_a_maybe_applied_failure_beyond_the_reread_limit_is_unknown():
    """A maybe-applied failure after the re-read limit settles as unknown with its message."""
    state = item()
    state.rare.rereads = MAX_REREADS

    action = after_failure(
        state,
        STOP,
        maybe_applied=True,
        throttled=False,
        unsure=False,
        message="timed out",
        budget_left=True,
    )

    assert action == Settle(Outcome.UNKNOWN, None, "timed out")


def test_rereads_are_counted_across_answers_and_failures():
    """Conflicts, missing answers and maybe-applied failures share one re-read allowance."""
    state = item()

    assert isinstance(after_answer(DELETE_RUN, state, DELETE, CONFLICT, unsure=False), Recheck)
    assert isinstance(after_answer(DELETE_RUN, state, DELETE, None, unsure=False), Recheck)
    failure = after_failure(
        state,
        DELETE,
        maybe_applied=True,
        throttled=False,
        unsure=False,
        message="reset",
        budget_left=True,
    )
    assert isinstance(failure, Recheck)

    assert isinstance(after_answer(DELETE_RUN, state, DELETE, CONFLICT, unsure=False), Settle)


# after_failure


def fail(state, op, *, maybe_applied=False, throttled=False, unsure=False, budget_left=True):
    return after_failure(
        state,
        op,
        maybe_applied=maybe_applied,
        throttled=throttled,
        unsure=unsure,
        message="boom",
        budget_left=budget_left,
    )


@pytest.mark.parametrize(
    ("op", "before", "failure", "action", "after"),
    [
        pytest.param(
            DELETE, {}, {}, Send(DELETE), set(), id="never-acted-with-budget-is-sent-again"
        ),
        pytest.param(
            DELETE,
            {"attempts": MAX_ATTEMPTS - 1},
            {},
            Send(DELETE),
            set(),
            id="last-allowed-attempt-is-sent-again",
        ),
        pytest.param(
            DELETE,
            {"attempts": MAX_ATTEMPTS},
            {},
            Settle(Outcome.FAILED, None, "boom"),
            set(),
            id="attempts-used-up-fails",
        ),
        pytest.param(
            STOP,
            {},
            {"budget_left": False},
            Settle(Outcome.FAILED, None, "boom"),
            set(),
            id="no-budget-fails",
        ),
        pytest.param(
            STOP,
            {"unconfirmed": True},
            {"budget_left": False},
            Settle(Outcome.UNKNOWN, None, "boom"),
            {"unconfirmed"},
            id="no-budget-after-unconfirmed-try-is-unknown",
        ),
        pytest.param(
            STOP,
            {},
            {"throttled": True, "budget_left": False},
            Send(STOP),
            set(),
            id="throttled-is-sent-again-without-budget",
        ),
        pytest.param(
            STOP,
            {},
            {"maybe_applied": True},
            Recheck(STOP, ItemAnswer("refused", None, "boom")),
            {"unconfirmed"},
            id="maybe-applied-stop-is-read-again",
        ),
        pytest.param(
            DELETE,
            {},
            {"maybe_applied": True},
            Recheck(DELETE, ItemAnswer("refused", None, "boom")),
            {"unconfirmed", "delete_unsure"},
            id="maybe-applied-delete-is-read-again-and-delete-unsure",
        ),
        pytest.param(
            DELETE,
            {},
            {"unsure": True},
            Send(DELETE),
            {"unconfirmed", "delete_unsure"},
            id="unsure-delete-that-never-acted-now-is-sent-again-and-flagged",
        ),
    ],
)
def test_after_failure_follows_the_failure_table(op, before, failure, action, after):
    """Each failure gives its row's action and flags, and clears the in-flight flag."""
    state = item(in_flight=True, **before)

    assert fail(state, op, **failure) == action
    assert flags_of(state) == after


def test_throttled_changes_are_sent_again_until_the_throttle_limit():
    """A change throttled MAX_THROTTLES times is sent again each time, then given up."""
    state = item()

    for _ in range(MAX_THROTTLES):
        assert fail(state, STOP, throttled=True) == Send(STOP)

    assert fail(state, STOP, throttled=True) == Settle(Outcome.FAILED, None, "boom")


@pytest.mark.parametrize("maybe_applied", [False, True], ids=["never-acted", "maybe-applied"])
def test_after_failure_leaves_a_settled_item_alone_but_clears_in_flight(maybe_applied):
    """An item that already has an outcome gets no action; only its in-flight flag is cleared."""
    state = item(in_flight=True, outcome=Outcome.DELETED)

    assert fail(state, DELETE, maybe_applied=maybe_applied, unsure=True) is None
    assert flags_of(state) == set()


# after_read


@pytest.mark.parametrize(
    ("goal", "op", "before", "answer", "read", "action", "stopped_by_us"),
    [
        pytest.param(
            DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Unreadable("read timed out"),
            Settle(Outcome.FAILED, CONFLICT.code, f"{CONFLICT.message}; read timed out"),
            False,
            id="unreadable-fails-with-both-messages",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {"unconfirmed": True},
            NO_ANSWER,
            Unreadable("read timed out"),
            Settle(Outcome.UNKNOWN, None, "no answer for this item; read timed out"),
            False,
            id="unreadable-after-unconfirmed-try-is-unknown",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {"unconfirmed": True, "delete_unsure": True},
            NO_ANSWER,
            None,
            Settle(Outcome.DELETED, None, GONE),
            False,
            id="gone-after-unconfirmed-delete-is-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            None,
            Settle(Outcome.ALREADY_ABSENT, None, "not found"),
            False,
            id="gone-without-our-delete-is-already-absent",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            {"unconfirmed": True},
            NO_ANSWER,
            Status.STOPPING,
            Settle(Outcome.STOPPED, None, "stopped; now STOPPING"),
            True,
            id="stopping-after-unconfirmed-stop-in-stop-run-is-stopped-by-us",
        ),
        pytest.param(
            DELETE_RUN,
            STOP,
            {"unconfirmed": True},
            NO_ANSWER,
            Status.STOPPING,
            WAIT,
            True,
            id="stopping-after-unconfirmed-stop-in-delete-run-waits-stopped-by-us",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {"stopped_by_us": True},
            CONFLICT,
            Status.RUNNING,
            WAIT,
            True,
            id="running-after-our-stop-waits-never-stops-twice",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.RUNNING,
            Send(STOP),
            False,
            id="running-in-delete-run-is-stopped-first",
        ),
        pytest.param(
            DELETE_RUN,
            STOP,
            {},
            CONFLICT,
            Status.DEAD,
            Send(DELETE),
            False,
            id="dead-in-delete-run-is-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.COMPLETED,
            Send(DELETE),
            False,
            id="completed-execution-in-delete-run-is-deleted",
        ),
        pytest.param(
            DEPLOYMENT_DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.COMPLETED,
            Settle(
                Outcome.SKIPPED,
                CODE_STATUS_CONFLICT,
                "deployments in status COMPLETED cannot be deleted",
            ),
            False,
            id="completed-deployment-in-delete-run-is-skipped-with-code",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.STOPPING,
            WAIT,
            False,
            id="stopping-in-delete-run-waits",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            {},
            CONFLICT,
            Status.PENDING,
            Send(STOP),
            False,
            id="pending-in-stop-run-is-stopped",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            {},
            CONFLICT,
            Status.STOPPED,
            Settle(Outcome.UNCHANGED, None, "already STOPPED"),
            False,
            id="stopped-in-stop-run-is-unchanged-without-code",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            {},
            CONFLICT,
            Status.UNKNOWN,
            Settle(
                Outcome.SKIPPED,
                CODE_STATUS_CONFLICT,
                "status UNKNOWN cannot be stopped (it can be deleted)",
            ),
            False,
            id="unknown-in-stop-run-is-skipped-with-code",
        ),
        pytest.param(
            DEPLOYMENT_DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.RUNNING,
            Settle(Outcome.SKIPPED, CODE_STATUS_CONFLICT, SERVING.format("RUNNING")),
            False,
            id="deployment-running-again-is-skipped-without-include-running",
        ),
        pytest.param(
            DEPLOYMENT_STOP_RUN,
            STOP,
            {},
            CONFLICT,
            Status.PENDING,
            Settle(Outcome.SKIPPED, CODE_STATUS_CONFLICT, SERVING.format("PENDING")),
            False,
            id="deployment-pending-in-stop-run-is-skipped-without-include-running",
        ),
        pytest.param(
            SERVING_DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.RUNNING,
            Send(STOP),
            False,
            id="deployment-running-again-is-stopped-first-with-include-running",
        ),
        pytest.param(
            SERVING_STOP_RUN,
            STOP,
            {},
            CONFLICT,
            Status.PENDING,
            Send(STOP),
            False,
            id="deployment-pending-in-stop-run-is-stopped-with-include-running",
        ),
        pytest.param(
            DEPLOYMENT_DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Status.STOPPING,
            WAIT,
            False,
            id="deployment-stopping-needs-no-include-running-to-wait",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Deleting(Status.STOPPED),
            Settle(Outcome.ALREADY_DELETING, None, SCHEDULED),
            False,
            id="deletion-scheduled-by-others-is-already-deleting",
        ),
        pytest.param(
            DELETE_RUN,
            DELETE,
            {"unconfirmed": True, "delete_unsure": True},
            NO_ANSWER,
            Deleting(Status.COMPLETED),
            Settle(Outcome.DELETED, None, "deletion scheduled after our unconfirmed delete"),
            False,
            id="deletion-scheduled-after-our-unconfirmed-delete-is-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            STOP,
            {"unconfirmed": True},
            NO_ANSWER,
            Deleting(Status.DEAD),
            Settle(Outcome.ALREADY_DELETING, None, SCHEDULED),
            False,
            id="deletion-scheduled-after-our-unconfirmed-stop-is-already-deleting",
        ),
        pytest.param(
            STOP_RUN,
            STOP,
            {},
            CONFLICT,
            Deleting(Status.UNKNOWN),
            Settle(Outcome.ALREADY_DELETING, None, SCHEDULED),
            False,
            id="deletion-scheduled-in-stop-run-is-already-deleting",
        ),
        pytest.param(
            SERVING_DELETE_RUN,
            DELETE,
            {},
            CONFLICT,
            Deleting(Status.RUNNING),
            Settle(Outcome.ALREADY_DELETING, None, SCHEDULED),
            False,
            id="deletion-scheduled-whatever-the-status-is-never-stopped",
        ),
    ],
)
def test_after_read_follows_the_fresh_status(goal, op, before, answer, read, action, stopped_by_us):
    """A fresh read gives the action its status calls for, minding our own earlier changes."""
    state = item(**before)

    assert after_read(goal, state, op, answer, read) == action
    assert state.stopped_by_us is stopped_by_us


@pytest.mark.parametrize(
    ("read", "route"),
    [
        pytest.param(Status.RUNNING, Route.STOP_THEN_DELETE, id="running"),
        pytest.param(Status.STOPPING, Route.WAIT_THEN_DELETE, id="stopping"),
        pytest.param(Status.STOPPED, Route.DELETE, id="stopped"),
        pytest.param(None, Route.ABSENT, id="gone"),
    ],
)
def test_after_read_records_the_status_and_route(read, route):
    """The fresh status and the route it calls for are kept on the item."""
    state = item()
    state.status = Status.PENDING

    after_read(DELETE_RUN, state, DELETE, CONFLICT, read)

    assert state.status is read
    assert state.route is route


def test_a_scheduled_deletion_stays_known_after_a_read_without_target_status():
    """Once a read showed the deletion scheduled, a later status-only read does not forget it."""
    state = item()

    after_read(DELETE_RUN, state, DELETE, CONFLICT, Deleting(Status.STOPPED))
    state.outcome = None  # as if it had not settled: only what it knows matters here
    action = after_read(DELETE_RUN, state, DELETE, STALE, Status.STOPPED)

    assert state.deleting
    assert state.flags & DELETING
    assert action == Settle(Outcome.ALREADY_DELETING, None, SCHEDULED)


def test_an_item_whose_deletion_is_scheduled_may_not_be_changed():
    """No change is allowed for an item known to be being deleted, whatever its status."""
    state = item()
    state.take(Deleting(Status.STOPPED))

    assert state.status is Status.STOPPED
    assert not still_allowed(DELETE_RUN, DELETE, state)
    assert not still_allowed(SERVING_STOP_RUN, STOP, state)


def test_an_unreadable_item_keeps_its_last_known_status():
    """A failed read leaves the item's last known status as it was."""
    state = item()
    state.status = Status.RUNNING

    after_read(DELETE_RUN, state, DELETE, CONFLICT, Unreadable("502"))

    assert state.status is Status.RUNNING


@given(goals, ops, st.integers(0, 31), answers, reads)
def test_after_read_leaves_a_settled_item_alone(goal, op, flags, answer, read):
    """An item that already has an outcome gets no action from a read, and keeps its state."""
    state = item(outcome=Outcome.UNKNOWN)
    state.flags = flags
    before = snapshot(state)

    assert after_read(goal, state, op, answer, read) is None
    assert snapshot(state) == before


# mind_own_changes: the flags a resumed run starts with.


@pytest.mark.parametrize(
    ("flags", "goal", "status", "expected", "stopped_by_us"),
    [
        pytest.param({}, DELETE_RUN, Status.RUNNING, Route.STOP_THEN_DELETE, False, id="none"),
        pytest.param(
            {"unconfirmed": True, "delete_unsure": True},
            DELETE_RUN,
            None,
            Settle(Outcome.DELETED, None, GONE),
            False,
            id="unsure-delete-then-gone-is-deleted",
        ),
        pytest.param(
            {"delete_unsure": True},
            DELETE_RUN,
            None,
            Settle(Outcome.DELETED, None, GONE),
            False,
            id="delete-unsure-alone-then-gone-is-deleted",
        ),
        pytest.param(
            {"unconfirmed": True, "delete_unsure": True},
            DELETE_RUN,
            Status.STOPPED,
            Route.DELETE,
            False,
            id="unsure-delete-then-still-there-is-deleted-again",
        ),
        pytest.param(
            {"unconfirmed": True},
            DELETE_RUN,
            None,
            Route.ABSENT,
            False,
            id="unsure-stop-then-gone-is-absent",
        ),
        pytest.param(
            {"unconfirmed": True},
            STOP_RUN,
            Status.STOPPING,
            Settle(Outcome.STOPPED, None, "stopped; now STOPPING"),
            True,
            id="unsure-stop-then-stopping-is-our-stop",
        ),
        pytest.param(
            {"unconfirmed": True},
            STOP_RUN,
            Status.RUNNING,
            Route.STOP,
            False,
            id="unsure-stop-then-running-is-stopped-again",
        ),
        pytest.param(
            {"unconfirmed": True},
            DELETE_RUN,
            Status.STOPPING,
            Route.WAIT_THEN_DELETE,
            True,
            id="unsure-stop-then-stopping-in-delete-run-is-our-stop",
        ),
        pytest.param(
            {"unconfirmed": True, "delete_unsure": True},
            STOP_RUN,
            Status.STOPPING,
            Route.UNCHANGED,
            False,
            id="unsure-delete-then-stopping-is-not-our-stop",
        ),
        pytest.param(
            {"stopped_by_us": True},
            STOP_RUN,
            Status.RUNNING,
            Settle(Outcome.STOPPED, None, "stopped; now RUNNING"),
            True,
            id="our-stop-in-stop-run-is-stopped-whatever-the-status",
        ),
        pytest.param(
            {"stopped_by_us": True},
            STOP_RUN,
            None,
            Route.ABSENT,
            True,
            id="our-stop-then-gone-in-stop-run-is-absent",
        ),
        pytest.param(
            {"stopped_by_us": True},
            DELETE_RUN,
            Status.RUNNING,
            Route.WAIT_THEN_DELETE,
            True,
            id="our-stop-then-running-waits",
        ),
        pytest.param(
            {"stopped_by_us": True},
            DELETE_RUN,
            Status.PENDING,
            Route.WAIT_THEN_DELETE,
            True,
            id="our-stop-then-pending-waits",
        ),
        pytest.param(
            {"stopped_by_us": True},
            DELETE_RUN,
            Status.STOPPED,
            Route.DELETE,
            True,
            id="our-stop-then-stopped-is-deleted",
        ),
        pytest.param(
            {"stopped_by_us": True},
            DELETE_RUN,
            None,
            Route.ABSENT,
            True,
            id="our-stop-then-gone-is-absent",
        ),
        pytest.param(
            {"unconfirmed": True, "delete_unsure": True, "stopped_by_us": True},
            DELETE_RUN,
            None,
            Settle(Outcome.DELETED, None, GONE),
            True,
            id="our-stop-and-unsure-delete-then-gone-is-deleted",
        ),
    ],
)
def test_mind_own_changes_on_resume(flags, goal, status, expected, stopped_by_us):
    """A resumed item's status is read in the light of what the journal says we did to it."""
    state = item(**flags)
    state.status = status
    route, _ = goal.decide(status)

    assert mind_own_changes(goal, state, route) == expected
    assert state.stopped_by_us is stopped_by_us


def test_resumed_sets_the_journal_flags_and_attempts():
    """A resumed item starts with the journal's attempts and flags, and nothing in flight."""
    state = ItemState.resumed(attempts=3, unconfirmed=True, delete_unsure=False, stopped_by_us=True)

    assert state.attempts == 3
    assert flags_of(state) == {"unconfirmed", "stopped_by_us"}
    assert state.outcome is None


# still_allowed


@pytest.mark.parametrize("include_running", [False, True], ids=["guarded", "include-running"])
@pytest.mark.parametrize("kind", ["executions", "deployments"])
@pytest.mark.parametrize("target", list(Target))
@pytest.mark.parametrize("status", [None, *Status], ids=str)
def test_still_allowed_matches_the_contract_table(kind, target, status, include_running):
    """The contract's statuses (or none) allow a change; a serving deployment's needs the flag."""
    allowed = CONTRACT_STOPPABLE if target is Target.STOPPED else CONTRACT_DELETABLE[kind]
    if kind == "deployments" and target is Target.STOPPED and not include_running:
        allowed = frozenset()
    state = item()
    state.status = status

    allowed_now = still_allowed(Goal(kind, target, include_running), Op(ITEM, target), state)

    assert allowed_now is (status is None or status in allowed)


# after_look


@pytest.mark.parametrize(
    ("still_stopping", "waited", "stopped_by_us", "action"),
    [
        pytest.param(False, 1.0, False, Send(DELETE), id="left-stopping-is-deleted"),
        pytest.param(False, 900.0, False, Send(DELETE), id="left-stopping-late-is-still-deleted"),
        pytest.param(True, 599.9, False, None, id="still-stopping-keeps-waiting"),
        pytest.param(
            True,
            600.0,
            False,
            Settle(Outcome.FAILED, None, "still STOPPING after 600 s; not deleted"),
            id="still-stopping-at-stop-wait-fails",
        ),
        pytest.param(
            True,
            700.0,
            True,
            Settle(Outcome.FAILED, None, "stopped, but still STOPPING after 600 s; not deleted"),
            id="still-stopping-after-our-stop-says-stopped",
        ),
        pytest.param(None, 10.0, False, None, id="failed-look-keeps-waiting"),
        pytest.param(
            None,
            600.0,
            False,
            Settle(Outcome.FAILED, None, "still STOPPING after 600 s; not deleted"),
            id="failed-look-still-times-out",
        ),
    ],
)
def test_after_look_deletes_or_waits_or_times_out(still_stopping, waited, stopped_by_us, action):
    """An item that left STOPPING is deleted; one still STOPPING waits until stop_wait runs out."""
    state = item(stopped_by_us=stopped_by_us)
    state.status = Status.STOPPING

    assert (
        after_look(ITEM, state, still_stopping=still_stopping, waited=waited, stop_wait=600.0)
        == action
    )
    assert state.status is (None if still_stopping is False else Status.STOPPING)
    assert state.last_seen is Status.STOPPING


def test_an_item_that_left_stopping_may_be_deleted_and_keeps_its_last_status():
    """After the look, the delete is still allowed, and the report keeps STOPPING as last seen."""
    state = item(stopped_by_us=True)
    state.status = Status.STOPPING

    action = after_look(ITEM, state, still_stopping=False, waited=3.0, stop_wait=600.0)

    assert action == Send(DELETE)
    assert still_allowed(DELETE_RUN, DELETE, state)
    assert state.last_seen is Status.STOPPING
    assert after_answer(DELETE_RUN, state, DELETE, ACCEPTED, unsure=False) == Settle(
        Outcome.DELETED, None, ACCEPTED.message
    )
    assert state.last_seen is Status.STOPPING


def test_an_item_read_as_gone_keeps_the_status_seen_before():
    """A read that finds the item gone forgets its status but keeps it as the last one seen."""
    state = item(unconfirmed=True, delete_unsure=True)
    state.status = Status.COMPLETED

    assert after_read(DELETE_RUN, state, DELETE, NO_ANSWER, None) == Settle(
        Outcome.DELETED, None, GONE
    )
    assert state.status is None
    assert state.last_seen is Status.COMPLETED


def test_a_status_never_seen_is_none_and_takes_no_side_object():
    """An item never seen has no last status, and asking for it makes no side object."""
    state = item()

    assert state.last_seen is None
    assert state._rare is None


def test_after_look_shows_a_fractional_stop_wait_compactly():
    """The timeout message shows the stop wait in its shortest form."""
    action = after_look(ITEM, item(), still_stopping=True, waited=3.0, stop_wait=2.5)

    assert action == Settle(Outcome.FAILED, None, "still STOPPING after 2.5 s; not deleted")


@pytest.mark.parametrize("still_stopping", [False, True, None], ids=str)
def test_after_look_leaves_a_settled_item_alone(still_stopping):
    """An item that already has an outcome gets no action from a look, and keeps its state."""
    state = item(stopped_by_us=True, outcome=Outcome.FAILED)
    state.status = Status.STOPPING
    before = snapshot(state)

    assert after_look(ITEM, state, still_stopping=still_stopping, waited=1e9, stop_wait=1.0) is None
    assert snapshot(state) == before


# at_end


@pytest.mark.parametrize(
    ("flags", "action"),
    [
        pytest.param({}, Settle(Outcome.FAILED, None, "deadline"), id="open-item-fails"),
        pytest.param(
            {"unconfirmed": True},
            Settle(Outcome.UNKNOWN, None, "deadline"),
            id="unconfirmed-is-unknown",
        ),
        pytest.param(
            {"in_flight": True},
            Settle(Outcome.UNKNOWN, None, "deadline"),
            id="in-flight-is-unknown",
        ),
        pytest.param(
            {"stopped_by_us": True},
            Settle(Outcome.FAILED, None, "stopped, not deleted: deadline"),
            id="stopped-by-us-says-so",
        ),
        pytest.param(
            {"stopped_by_us": True, "in_flight": True},
            Settle(Outcome.UNKNOWN, None, "stopped, not deleted: deadline"),
            id="stopped-by-us-in-flight-is-unknown-and-says-so",
        ),
    ],
)
def test_at_end_settles_an_open_item(flags, action):
    """At the end an open item is unknown if a change may have acted, else failed."""
    assert at_end(item(**flags), "deadline") == action


@pytest.mark.parametrize(
    ("flags", "action"),
    [
        pytest.param(
            {}, Settle(Outcome.SKIPPED, None, "interrupted before sending"), id="never-sent-skips"
        ),
        pytest.param(
            {"attempts": 1},
            Settle(Outcome.FAILED, None, "interrupted"),
            id="sent-before-fails",
        ),
        pytest.param(
            {"in_flight": True, "attempts": 1},
            Settle(Outcome.UNKNOWN, None, "interrupted"),
            id="in-flight-is-unknown",
        ),
        pytest.param(
            {"unconfirmed": True},
            Settle(Outcome.UNKNOWN, None, "interrupted"),
            id="unconfirmed-from-an-earlier-session-is-unknown",
        ),
        pytest.param(
            {"stopped_by_us": True, "attempts": 1},
            Settle(Outcome.FAILED, None, "stopped, not deleted: interrupted"),
            id="stopped-by-us-says-so",
        ),
    ],
)
def test_at_end_of_an_interrupted_run_skips_what_was_never_sent(flags, action):
    """After an interruption an item no request carried is skipped; others end as before."""
    assert at_end(item(**flags), "interrupted", interrupted=True) == action


def test_at_end_leaves_a_settled_item_alone():
    """An item that already has an outcome gets nothing at the end."""
    state = item(in_flight=True, outcome=Outcome.DELETED)
    before = snapshot(state)

    assert at_end(state, "interrupted") is None
    assert snapshot(state) == before


# at_final_read


def in_doubt(**flags):
    """An item settled unknown, as the run leaves it before its final read."""
    state = item(**flags)
    state.status = Status.DEAD
    state.outcome, state.code, state.message = Outcome.UNKNOWN, None, "in doubt"
    return state


@pytest.mark.parametrize(
    ("goal", "flags", "read", "expected", "stopped_by_us"),
    [
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True, "delete_unsure": True},
            None,
            Settle(Outcome.DELETED, None, GONE),
            False,
            id="delete-then-gone-is-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True, "delete_unsure": True},
            Deleting(Status.DEAD),
            Settle(Outcome.DELETED, None, "deletion scheduled after our unconfirmed delete"),
            False,
            id="delete-then-scheduled-is-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True, "delete_unsure": True},
            Status.DEAD,
            Settle(Outcome.FAILED, None, "not deleted: still DEAD at the final read (in doubt)"),
            False,
            id="delete-then-still-there-failed",
        ),
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True},
            Status.STOPPING,
            Settle(
                Outcome.FAILED,
                None,
                "stopped, not deleted: still STOPPING at the final read (in doubt)",
            ),
            True,
            id="stop-in-delete-run-then-stopping-is-our-stop-not-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True},
            Status.STOPPED,
            Settle(
                Outcome.FAILED,
                None,
                "stopped, not deleted: still STOPPED at the final read (in doubt)",
            ),
            True,
            id="stop-in-delete-run-then-stopped-is-our-stop-not-deleted",
        ),
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True},
            None,
            Settle(Outcome.ALREADY_ABSENT, None, "not found"),
            False,
            id="stop-then-gone-is-already-absent",
        ),
        pytest.param(
            DELETE_RUN,
            {"unconfirmed": True},
            Deleting(Status.STOPPED),
            Settle(Outcome.ALREADY_DELETING, None, SCHEDULED),
            True,
            id="stop-then-deleted-by-others-is-already-deleting",
        ),
        pytest.param(
            STOP_RUN,
            {"unconfirmed": True},
            Status.STOPPING,
            Settle(Outcome.STOPPED, None, "stopped; now STOPPING"),
            True,
            id="stop-then-stopping-is-stopped",
        ),
        pytest.param(
            STOP_RUN,
            {"unconfirmed": True},
            Status.STOPPED,
            Settle(Outcome.STOPPED, None, "stopped; now STOPPED"),
            True,
            id="stop-then-stopped-is-stopped",
        ),
        pytest.param(
            STOP_RUN,
            {"unconfirmed": True},
            Status.RUNNING,
            Settle(Outcome.FAILED, None, "not stopped: still RUNNING at the final read (in doubt)"),
            False,
            id="stop-then-still-running-failed",
        ),
        pytest.param(
            STOP_RUN,
            {"unconfirmed": True},
            Status.DEAD,
            Settle(Outcome.UNCHANGED, None, "already DEAD"),
            False,
            id="stop-then-dead-is-unchanged",
        ),
        pytest.param(
            STOP_RUN,
            {"unconfirmed": True},
            Status.UNKNOWN,
            Settle(Outcome.SKIPPED, None, "status UNKNOWN cannot be stopped (it can be deleted)"),
            False,
            id="stop-then-unknown-status-is-skipped",
        ),
        pytest.param(
            DEPLOYMENT_DELETE_RUN,
            {"unconfirmed": True, "delete_unsure": True},
            Status.RUNNING,
            Settle(Outcome.SKIPPED, None, SERVING.format("RUNNING")),
            False,
            id="deployment-running-again-is-skipped",
        ),
    ],
)
def test_at_final_read_settles_by_what_the_read_shows(goal, flags, read, expected, stopped_by_us):
    """The final read settles an item in doubt by its status, minding our own unseen changes."""
    state = in_doubt(**flags)

    assert at_final_read(goal, state, read) == expected
    assert state.stopped_by_us is stopped_by_us


def test_at_final_read_keeps_the_code_of_a_refusal_it_confirms():
    """An item still needing its change keeps the service's code from the refusal that left it."""
    state = in_doubt(unconfirmed=True, delete_unsure=True)
    state.code = CODE_STATUS_CONFLICT

    settle = at_final_read(DELETE_RUN, state, Status.STOPPED)

    assert settle.outcome is Outcome.FAILED
    assert settle.code == CODE_STATUS_CONFLICT


@given(goals, st.integers(0, 31), statuses | scheduled)
def test_the_final_read_never_leaves_an_item_unknown(goal, flags, read):
    """Whatever the final read shows, the item gets an outcome other than unknown."""
    state = in_doubt()
    state.flags = flags

    assert at_final_read(goal, state, read).outcome is not Outcome.UNKNOWN


# Properties.


@given(goals, states(settled=False), ops, st.none() | answers, st.booleans())
def test_an_answer_never_resends_a_change_blindly(goal, state, op, answer, unsure):
    """Whatever the answer, after_answer never queues the change again and clears in-flight."""
    action = after_answer(goal, state, op, answer, unsure=unsure)

    assert not isinstance(action, Send)
    assert not state.in_flight


@given(states(settled=False), ops, st.booleans(), st.booleans(), st.booleans())
def test_a_failure_that_may_have_acted_is_never_resent(state, op, throttled, unsure, budget):
    """A request that may have acted is read again or given up, never sent again."""
    action = fail(
        state, op, maybe_applied=True, throttled=throttled, unsure=unsure, budget_left=budget
    )

    assert isinstance(action, Recheck | Settle)
    assert state.unconfirmed
    assert not state.in_flight


@given(
    goals,
    states(settled=True),
    ops,
    st.none() | answers,
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_a_settled_item_is_never_changed(goal, state, op, answer, unsure, maybe, throttled):
    """Every transition leaves a settled item's state alone, except clearing in-flight."""
    state.in_flight = True
    before = snapshot(state)
    cleared = (*before[:6], before[6] & ~IN_FLIGHT, *before[7:])

    assert at_end(state, "end") is None
    assert after_look(ITEM, state, still_stopping=False, waited=0.0, stop_wait=1.0) is None
    assert after_read(goal, state, op, NO_ANSWER, Status.RUNNING) is None
    assert snapshot(state) == before

    assert after_answer(goal, state, op, answer, unsure=unsure) is None
    assert snapshot(state) == cleared

    state.in_flight = True
    assert (
        fail(state, op, maybe_applied=maybe, throttled=throttled, unsure=unsure, budget_left=True)
        is None
    )
    assert snapshot(state) == cleared


@given(
    goals,
    states(settled=False),
    ops,
    st.none() | answers,
    reads,
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_a_given_up_item_is_unknown_exactly_when_a_change_may_have_acted(
    goal, state, op, answer, read, unsure, maybe, throttled
):
    """A give-up is UNKNOWN when a change may have acted (unconfirmed), else FAILED."""
    events = [
        lambda: after_answer(goal, state, op, answer, unsure=unsure),
        lambda: fail(
            state, op, maybe_applied=maybe, throttled=throttled, unsure=unsure, budget_left=False
        ),
        lambda: after_read(goal, state, op, answer or NO_ANSWER, read),
    ]

    for event in events:
        action = event()
        if isinstance(action, Settle) and action.outcome in {Outcome.FAILED, Outcome.UNKNOWN}:
            assert (action.outcome is Outcome.UNKNOWN) is state.unconfirmed


surprise = st.sampled_from(["conflict", "no-answer", "maybe-applied"])


@given(goals, ops, st.lists(surprise, max_size=3 * MAX_REREADS), st.booleans())
def test_an_item_is_read_again_at_most_max_rereads_times(goal, op, surprises, unsure):
    """Across any sequence of surprises, the first MAX_REREADS are read again, the rest settle."""
    state = item()
    actions = []
    for event in surprises:
        if event == "maybe-applied":
            actions.append(fail(state, op, maybe_applied=True, unsure=unsure))
        else:
            answer = CONFLICT if event == "conflict" else None
            actions.append(after_answer(goal, state, op, answer, unsure=unsure))

    rechecks = [action for action in actions if isinstance(action, Recheck)]
    assert len(rechecks) == min(len(surprises), MAX_REREADS)
    assert all(isinstance(action, Settle) for action in actions[MAX_REREADS:])


@given(goals, st.integers(0, 31), ops, answers, reads)
def test_a_change_sent_after_a_read_is_allowed_for_the_fresh_status(goal, flags, op, answer, read):
    """Any change after_read queues is one the fresh status allows, for the same item."""
    state = item()
    state.flags = flags

    action = after_read(goal, state, op, answer, read)

    if isinstance(action, Send):
        assert action.op.id == op.id
        assert still_allowed(goal, action.op, state)
        assert read is not None


@given(goals, st.integers(0, 31), ops, answers, scheduled)
def test_an_item_being_deleted_is_never_sent_anything(goal, flags, op, answer, read):
    """A read that shows a deletion scheduled settles the item: nothing is sent or waited for."""
    state = item()
    state.flags = flags

    action = after_read(goal, state, op, answer, read)

    assert isinstance(action, Settle)
    assert action.outcome in {Outcome.ALREADY_DELETING, Outcome.DELETED, Outcome.STOPPED}
    assert (action.outcome is Outcome.DELETED) is state.delete_unsure
