"""The change queue: which changes go out next, and when a partial request may go."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicore_bulk._models import Op, Target
from aicore_bulk._queue import ChangeQueue


def stop(item_id):
    return Op(item_id, Target.STOPPED)


def delete(item_id):
    return Op(item_id, Target.DELETED)


def busy(queue, size, now=0.0):
    """A take while the run is busy and nothing has waited long enough."""
    return queue.take(size, now=now, idle=False, hold_check=False)


def drain(queue, size, now=0.0):
    batches = []
    while (batch := queue.take(size, now=now, idle=True, hold_check=False)) is not None:
        batches.append(batch)
    return batches


def test_the_plans_first_changes_go_in_requests_of_size_stops_first():
    """The plan's changes go out as taken, at most size per request, stops before deletes."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.start(["s001", "s002", "s003"], ["d001", "d002"], size=2)

    assert busy(queue, 2) == [stop("s001"), stop("s002")]
    assert busy(queue, 2) == [stop("s003"), delete("d001")]
    assert busy(queue, 2) == [delete("d002")]
    assert busy(queue, 2) is None


def test_a_later_stop_goes_before_the_plans_first_changes_even_alone():
    """A later stop goes at once, in a partial request, ahead of the plan's first changes."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.start(["s001", "s002"], ["d001"], size=2)
    queue.add([stop("late")], now=0.0)

    assert busy(queue, 2) == [stop("late")]
    assert busy(queue, 2) == [stop("s001"), stop("s002")]


def test_a_later_stops_request_is_filled_with_later_deletes_stops_first():
    """A request led by later stops takes later deletes into its free places, after the stops."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.add([delete("d001"), stop("s001"), delete("d002"), stop("s002")], now=0.0)

    assert busy(queue, 3) == [stop("s001"), stop("s002"), delete("d001")]
    assert len(queue) == 1


def test_later_deletes_wait_behind_the_plans_first_changes():
    """Later deletes, even a full request of them, go only after the plan's first changes."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.start([], ["d001", "d002"], size=2)
    queue.add([delete("x001"), delete("x002")], now=0.0)

    assert busy(queue, 2) == [delete("d001"), delete("d002")]
    assert busy(queue, 2) == [delete("x001"), delete("x002")]


def test_later_changes_go_in_full_requests_and_the_rest_waits():
    """Later changes go as full requests while busy; the partial rest waits for more."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.add([delete(f"d{n:03}") for n in range(5)], now=0.0)

    assert busy(queue, 2) == [delete("d000"), delete("d001")]
    assert busy(queue, 2) == [delete("d002"), delete("d003")]
    assert busy(queue, 2) is None
    assert len(queue) == 1


@pytest.mark.parametrize(
    ("idle", "hold_check", "now", "goes"),
    [
        pytest.param(False, False, 1000.0, False, id="busy-without-hold-check-waits-forever"),
        pytest.param(False, True, 109.9, False, id="held-less-than-batch-wait-waits"),
        pytest.param(False, True, 110.0, True, id="held-batch-wait-goes"),
        pytest.param(False, True, 150.0, True, id="held-longer-goes"),
        pytest.param(True, False, 100.0, True, id="idle-goes-at-once"),
        pytest.param(True, True, 100.0, True, id="idle-with-hold-check-goes-at-once"),
    ],
)
def test_a_partial_request_of_later_changes_goes_when_idle_or_held_long(
    idle, hold_check, now, goes
):
    """A partial request goes when the run is idle, or when its oldest change waited batch_wait."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.add([delete("d001")], now=100.0)
    queue.add([delete("d002")], now=105.0)

    batch = queue.take(3, now=now, idle=idle, hold_check=hold_check)

    assert batch == ([delete("d001"), delete("d002")] if goes else None)
    assert len(queue) == (0 if goes else 2)


def test_the_hold_clock_restarts_after_the_queue_empties():
    """Once the queue has been emptied, batch_wait counts from the next change's arrival."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.add([delete("d001")], now=0.0)
    assert queue.take(3, now=0.0, idle=True, hold_check=False) == [delete("d001")]

    queue.add([delete("d002")], now=100.0)

    assert queue.take(3, now=105.0, idle=False, hold_check=True) is None
    assert queue.take(3, now=110.0, idle=False, hold_check=True) == [delete("d002")]


def test_what_is_left_after_a_full_request_waits_from_its_own_time():
    """A change queued late waits its own batch_wait, not that of changes already sent."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.add([delete(f"a{n:03d}") for n in range(3)], now=0.0)
    queue.add([delete("late")], now=50.0)

    assert busy(queue, 3, now=50.0) == [delete(f"a{n:03d}") for n in range(3)]
    assert queue.take(3, now=51.0, idle=False, hold_check=True) is None
    assert queue.take(3, now=60.0, idle=False, hold_check=True) == [delete("late")]


def test_an_empty_queue_gives_nothing_even_when_idle():
    """With nothing queued, take gives None rather than an empty request."""
    queue = ChangeQueue(batch_wait=0.0)
    queue.start([], [], size=5)

    assert queue.take(5, now=0.0, idle=True, hold_check=True) is None


def test_len_counts_later_changes_only():
    """The length counts later changes waiting, never the plan's first ones."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.start(["s001", "s002"], ["d001"], size=2)
    assert len(queue) == 0

    queue.add([stop("s003"), delete("d002"), delete("d003")], now=0.0)
    assert len(queue) == 3

    busy(queue, 2)  # the later stop, with one later delete
    assert len(queue) == 1


def test_cut_for_single_makes_every_first_change_its_own_request():
    """After the cut, each of the plan's remaining changes goes alone, in order."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.start(["s001", "s002"], ["d001"], size=3)

    queue.cut_for_single()

    assert drain(queue, 3) == [[stop("s001")], [stop("s002")], [delete("d001")]]


def test_cut_for_single_after_a_take_cuts_only_what_is_left():
    """A cut after some requests went splits only the plan's remaining changes."""
    queue = ChangeQueue(batch_wait=10.0)
    queue.start(["s001", "s002", "s003"], ["d001", "d002"], size=2)
    assert busy(queue, 2) == [stop("s001"), stop("s002")]

    queue.cut_for_single()

    assert drain(queue, 2) == [[stop("s003")], [delete("d001")], [delete("d002")]]


# Property: draining.

item_ids = st.lists(
    st.text(alphabet="abcdef0123456789", min_size=4, max_size=8), unique=True, max_size=60
)


@given(
    item_ids,
    st.data(),
    st.integers(min_value=1, max_value=7),
    st.lists(st.tuples(st.booleans(), st.booleans(), st.floats(0, 20)), max_size=20),
)
def test_draining_sends_every_change_once_in_well_formed_requests(ids, data, size, takes):
    """Every queued change goes exactly once, in requests of 1..size distinct IDs."""
    roles = data.draw(
        st.lists(
            st.sampled_from(["stop", "delete", "later-stop", "later-delete"]),
            min_size=len(ids),
            max_size=len(ids),
        )
    )
    by_role = {
        role: [i for i, r in zip(ids, roles, strict=True) if r == role] for role in set(roles)
    }
    later = [stop(i) for i in by_role.get("later-stop", [])]
    later += [delete(i) for i in by_role.get("later-delete", [])]
    queue = ChangeQueue(batch_wait=5.0)
    queue.start(by_role.get("stop", []), by_role.get("delete", []), size=size)

    batches = []
    now = 0.0
    cut = len(later) // 2
    queue.add(later[:cut], now=now)
    for idle, hold_check, step in takes:
        now += step
        batch = queue.take(size, now=now, idle=idle, hold_check=hold_check)
        if batch is not None:
            batches.append(batch)
    queue.add(later[cut:], now=now)
    batches += drain(queue, size, now=now)

    sent = [op for batch in batches for op in batch]
    expected = [stop(i) for i in by_role.get("stop", [])]
    expected += [delete(i) for i in by_role.get("delete", [])]
    expected += later
    assert sorted(sent) == sorted(expected)
    assert all(1 <= len(batch) <= size for batch in batches)
    assert all(len({op.id for op in batch}) == len(batch) for batch in batches)
    assert len(queue) == 0
