"""``Selection`` checks and normalises its arguments when it is built (no I/O)."""

from __future__ import annotations

import datetime as dt
import math

import attrs
import pytest

from aicore_bulk import InputError, Selection, Status


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("DEAD", (Status.DEAD,)),
        ("dead", (Status.DEAD,)),
        ("Dead", (Status.DEAD,)),
        (Status.COMPLETED, (Status.COMPLETED,)),
        (["completed", Status.DEAD], (Status.COMPLETED, Status.DEAD)),
        ((s for s in ("STOPPED", "unknown")), (Status.STOPPED, Status.UNKNOWN)),
        (frozenset({Status.RUNNING}), (Status.RUNNING,)),
        (None, ()),
        ((), ()),
    ],
    ids=["upper", "lower", "title", "member", "list", "generator", "set", "none", "empty"],
)
def test_statuses_take_one_or_many_members_or_names_in_any_case(given, kept):
    """Statuses may be one status or an iterable, as members or names; kept as members."""
    selection = Selection(statuses=given)

    assert selection.statuses == kept
    assert all(type(status) is Status for status in selection.statuses)


def test_repeated_statuses_are_kept_once_in_order():
    """A status given twice would list its items twice: it is kept once, first seen first."""
    assert Selection(statuses=["DEAD", "completed", "dead"]).statuses == (
        Status.DEAD,
        Status.COMPLETED,
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (5, "statuses must be Status values or their names, not int"),
        (b"DEAD", "statuses must be Status values or their names, not bytes"),
        ({"DEAD": 1}, "statuses must be Status values or their names, not dict"),
        (["DEAD", None], "statuses must be Status values or their names, not NoneType"),
        (
            "FINISHED",
            "statuses: unknown status 'FINISHED': use one of PENDING, RUNNING, COMPLETED, DEAD, "
            "STOPPING, STOPPED, UNKNOWN",
        ),
        (["DEAD", "gone"], "statuses: unknown status 'gone'"),
    ],
    ids=["int", "bytes", "mapping", "none-inside", "unknown", "unknown-inside"],
)
def test_bad_statuses_are_refused_naming_the_field_and_the_value(given, message):
    """A status of the wrong type or an unknown name is an InputError naming both."""
    with pytest.raises(InputError) as caught:
        Selection(statuses=given)

    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (dt.timedelta(days=30), 2_592_000.0),
        (dt.timedelta(hours=1, minutes=30), 5_400.0),
        (3600, 3600.0),
        (0.5, 0.5),
        (0, 0.0),
        (None, None),
    ],
    ids=["timedelta-days", "timedelta-hours", "int", "float", "zero", "none"],
)
def test_older_than_takes_a_timedelta_or_seconds_and_keeps_float_seconds(given, seconds):
    """older_than may be a timedelta or a number of seconds; it is kept as float seconds."""
    selection = Selection(older_than=given)

    assert selection.older_than == seconds
    assert seconds is None or type(selection.older_than) is float


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (-1, "older_than must be >= 0 seconds"),
        (dt.timedelta(seconds=-1), "older_than must be >= 0 seconds"),
        (math.nan, "older_than must be a finite number of seconds, got nan"),
        (math.inf, "older_than must be a finite number of seconds, got inf"),
        ("30d", "older_than must be a timedelta or a number of seconds, not str"),
        (True, "older_than must be a timedelta or a number of seconds, not bool"),
    ],
    ids=["negative", "negative-timedelta", "nan", "inf", "text", "bool"],
)
def test_bad_ages_are_refused(given, message):
    """A negative, NaN, infinite or non-numeric older_than is an InputError naming it."""
    with pytest.raises(InputError) as caught:
        Selection(older_than=given)

    assert str(caught.value) == message


def test_executable_ids_take_one_id_or_many():
    """executable_ids may be one ID or an iterable of IDs; kept as a tuple of distinct IDs."""
    assert Selection(executable_ids="trainer-v1").executable_ids == ("trainer-v1",)
    assert Selection(executable_ids=["exec-a", "exec-b", "exec-a"]).executable_ids == (
        "exec-a",
        "exec-b",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"executable_ids": 42}, "executable_ids must be AI Core IDs, not int"),
        ({"executable_ids": ["exec-a", 42]}, "executable_ids must be AI Core IDs, not int"),
        ({"executable_ids": ["bad id"]}, "executable_ids 'bad id' is not a valid AI Core ID"),
        ({"scenario_id": 42}, "scenario_id must be a string, not int"),
        ({"scenario_id": ["training"]}, "scenario_id must be a string, not list"),
        ({"configuration_id": "a b c"}, "configuration_id 'a b c' is not a valid AI Core ID"),
        ({"age_field": "modified"}, "age_field must be 'created' or 'completion'"),
    ],
    ids=["exec-int", "exec-int-inside", "exec-bad", "scenario-int", "scenario-list", "cfg", "age"],
)
def test_bad_ids_and_fields_are_refused_naming_the_field(arguments, message):
    """IDs of the wrong type or shape, and an unknown age field, name the field."""
    with pytest.raises(InputError) as caught:
        Selection(**arguments)

    assert str(caught.value) == message


def test_a_changed_selection_is_normalised_too():
    """attrs.evolve goes through the same checks, so a changed selection stays normal."""
    selection = attrs.evolve(Selection(), statuses="dead", older_than=dt.timedelta(minutes=1))

    assert selection.statuses == (Status.DEAD,)
    assert selection.older_than == 60.0
    with pytest.raises(InputError, match="older_than"):
        attrs.evolve(selection, older_than=-5)
