"""The planner's invariants, as properties over random inputs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicore_bulk import Route, Status, Target
from aicore_bulk._api import Op
from aicore_bulk._errors import InputError
from aicore_bulk._models import ID_PATTERN
from aicore_bulk._planner import decide, intake, minimum_requests, pack

ids = st.text(alphabet="abcdef0123456789-._", min_size=4, max_size=12)
targets = st.sampled_from(list(Target))
kinds = st.sampled_from(["executions", "deployments"])
statuses = st.none() | st.sampled_from(list(Status))


@given(st.lists(ids, max_size=300))
def test_intake_keeps_each_id_once_in_first_seen_order(raw):
    """Every distinct ID once, in first-seen order; the rest are counted as duplicates."""
    distinct, duplicates = intake(raw)

    assert list(distinct) == list(dict.fromkeys(raw))
    assert duplicates == len(raw) - len(distinct)


@given(st.dictionaries(ids, targets, max_size=450), st.integers(min_value=1, max_value=100))
def test_pack_makes_full_requests_of_distinct_ids(changes, size):
    """Every change once, 1..size per request, distinct IDs, stops first, fewest requests."""
    ops = [Op(item_id, target) for item_id, target in changes.items()]
    stops = [op.id for op in ops if op.target is Target.STOPPED]
    deletes = [op.id for op in ops if op.target is Target.DELETED]

    batches = list(pack(stops, deletes, size=size))

    flat = [op for batch in batches for op in batch]
    assert sorted(flat, key=lambda o: o.id) == sorted(ops, key=lambda o: o.id)
    assert all(1 <= len(batch) <= size for batch in batches)
    assert all(len({op.id for op in batch}) == len(batch) for batch in batches)
    assert len(batches) == math.ceil(len(ops) / size)
    targets_in_order = [op.target for op in flat]
    assert targets_in_order == sorted(targets_in_order, key=lambda t: t is not Target.STOPPED)


@given(kinds, targets, statuses, st.booleans())
def test_decide_never_deletes_what_must_be_stopped_or_waited_for(
    kind, target, status, include_running
):
    """Nothing PENDING, RUNNING or STOPPING is deleted first; serving deployments need the flag."""
    path, reason = decide(kind, target, status, include_running=include_running)

    serving = status in {Status.PENDING, Status.RUNNING}
    guarded = serving and kind == "deployments" and not include_running
    if status in {Status.PENDING, Status.RUNNING, Status.STOPPING}:
        assert path is not Route.DELETE
    if target is Target.STOPPED:
        assert path in {Route.STOP, Route.UNCHANGED, Route.SKIP, Route.ABSENT}
        assert (path is Route.STOP) == (serving and not guarded)
    if guarded:
        assert path is Route.SKIP
        assert "include_running (--include-running)" in reason
    if status is None:
        assert path is Route.ABSENT


@given(st.dictionaries(st.sampled_from(list(Route)), st.integers(0, 5000)))
def test_minimum_requests_is_the_two_phase_bound(counts):
    """The bound is ceil(now / 100) + ceil(later / 100), and never below the one-phase bound."""
    now = (
        counts.get(Route.DELETE, 0)
        + counts.get(Route.STOP, 0)
        + counts.get(Route.STOP_THEN_DELETE, 0)
    )
    later = counts.get(Route.STOP_THEN_DELETE, 0) + counts.get(Route.WAIT_THEN_DELETE, 0)

    bound = minimum_requests(counts)

    assert bound == math.ceil(now / 100) + math.ceil(later / 100)
    assert math.ceil((now + later) / 100) <= bound <= math.ceil((now + later) / 100) + 1


@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[\w.-]{4,64}", fullmatch=True),
            st.text(min_size=0, max_size=70),
            st.sampled_from(["ab\ncd-efgh", "abcd\nefgh", "tooshort"[:3], "é" * 5, "a" * 65]),
        ),
        max_size=30,
    )
)
def test_intake_accepts_exactly_what_the_spec_pattern_accepts(raw):
    """The fast path (one pass over all IDs) agrees with the spec's pattern, ID by ID."""
    bad = [i for i, item_id in enumerate(raw, start=1) if not ID_PATTERN.fullmatch(item_id)]
    if bad:
        with pytest.raises(InputError, match=f"ID #{bad[0]} "):
            intake(raw)
    else:
        assert list(intake(raw)[0]) == list(dict.fromkeys(raw))
