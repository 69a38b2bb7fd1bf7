"""Retention (``Selection(keep_latest=N)``): the rule, its checks, and its one pass (no I/O)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicore_bulk import InputError, KeptItem, Plan, Route, Selection, Status, Target
from aicore_bulk._cli._render import plan_table
from aicore_bulk._models import Deleting
from aicore_bulk._selection import Retention

PER_FIELD = {
    "configuration": "configurationId",
    "scenario": "scenarioId",
    "executable": "executableId",
}


def resource(item_id: str, key: str, second: int, per: str = "configuration") -> dict[str, str]:
    """A listed resource of ``key`` created ``second`` seconds into 2026."""
    minutes, seconds = divmod(second, 60)
    return {
        "id": item_id,
        PER_FIELD[per]: key,
        "createdAt": f"2026-01-01T00:{minutes:02d}:{seconds:02d}Z",
    }


def run_pass(retention: Retention, resources: list[dict[str, str]]) -> list[str]:
    """Offer every resource; the IDs selected (pushed out), in the order they fell out."""
    selected = []
    for entry in resources:
        out = retention.offer(entry["id"], Status.DEAD, entry)
        if out is not None:
            selected.append(out[0])
    retention.close()
    return selected


@given(
    keep=st.integers(min_value=1, max_value=4),
    per=st.sampled_from(["configuration", "scenario", "executable"]),
    # Few keys and few distinct seconds: ties in createdAt are common.
    items=st.lists(
        st.tuples(st.sampled_from(["cfg-a", "cfg-b", "cfg-c"]), st.integers(0, 5)),
        max_size=40,
    ),
    order=st.randoms(use_true_random=False),
)
def test_for_every_key_exactly_the_n_newest_are_kept_and_the_rest_selected(keep, per, items, order):
    """Per key, min(N, count) items are kept: the newest by createdAt, then by greater ID."""
    resources = [resource(f"e-{n:04d}", key, second, per) for n, (key, second) in enumerate(items)]
    order.shuffle(resources)  # the list's order is unspecified: IDs come in any order
    retention = Retention(keep, per)

    selected = run_pass(retention, resources)

    kept = [item.id for item in retention.kept]
    assert sorted(selected + kept) == sorted(r["id"] for r in resources)  # each exactly once
    by_key = defaultdict(list)
    for r in resources:
        by_key[r[PER_FIELD[per]]].append((r["createdAt"], r["id"]))
    expected = {
        item_id for ranked in by_key.values() for _, item_id in sorted(ranked, reverse=True)[:keep]
    }
    assert set(kept) == expected
    assert len(kept) == sum(min(keep, len(ranked)) for ranked in by_key.values())


def test_equal_creation_times_keep_the_greater_id():
    """Between items created in the same second, the greater ID counts as newer."""
    resources = [resource(item_id, "cfg-a", 7) for item_id in ("e-0002", "e-0003", "e-0001")]
    retention = Retention(2, "configuration")

    selected = run_pass(retention, resources)

    assert selected == ["e-0001"]
    assert [item.id for item in retention.kept] == ["e-0003", "e-0002"]


def test_kept_items_are_listed_by_key_newest_first_with_their_reason():
    """The plan's reasons name the count and the key; N=1 says "the newest"."""
    resources = [
        resource("e-0001", "cfg-b", 1),
        resource("e-0002", "cfg-a", 5),
        resource("e-0003", "cfg-a", 9),
        resource("e-0004", "cfg-b", 3),
        resource("e-0005", "cfg-a", 1),
    ]
    two = Retention(2, "configuration")
    one = Retention(1, "scenario")

    run_pass(two, resources)
    run_pass(one, [resource("e-0001", "training", 1, "scenario")])

    assert two.kept == (
        KeptItem("e-0003", Status.DEAD, "one of the 2 newest of configuration cfg-a"),
        KeptItem("e-0002", Status.DEAD, "one of the 2 newest of configuration cfg-a"),
        KeptItem("e-0004", Status.DEAD, "one of the 2 newest of configuration cfg-b"),
        KeptItem("e-0001", Status.DEAD, "one of the 2 newest of configuration cfg-b"),
    )
    assert one.kept == (KeptItem("e-0001", Status.DEAD, "the newest of scenario training"),)


def test_an_item_that_cannot_be_ranked_is_kept_and_says_why():
    """Without createdAt (or an unreadable one) or without its key, an item is kept, not deleted."""
    resources = [
        {"id": "e-0001", "configurationId": "cfg-a"},
        {"id": "e-0002", "configurationId": "cfg-a", "createdAt": "yesterday"},
        {"id": "e-0003", "createdAt": "2026-01-01T00:00:00Z"},
        {"id": "e-0004", "scenarioId": "s", "configurationId": 7, "createdAt": "2026-01-01"},
    ]
    retention = Retention(1, "configuration")

    assert run_pass(retention, resources) == []
    assert [(item.id, item.reason) for item in retention.kept] == [
        ("e-0001", "no createdAt to rank it by"),
        ("e-0002", "no createdAt to rank it by"),
        ("e-0003", "no configurationId to rank it by"),
        ("e-0004", "no configurationId to rank it by"),
    ]


def test_an_item_listed_twice_takes_one_place_among_the_newest():
    """A repeat of a held item (pages shift while listing) neither counts twice nor falls out."""
    newest = resource("e-0009", "cfg-a", 9)
    resources = [newest, resource("e-0001", "cfg-a", 1), newest, resource("e-0002", "cfg-a", 2)]
    retention = Retention(2, "configuration")

    selected = run_pass(retention, resources)

    assert selected == ["e-0001"]
    assert [item.id for item in retention.kept] == ["e-0009", "e-0002"]


def test_a_kept_item_already_being_deleted_shows_its_status():
    """An item whose deletion is scheduled is kept with the status it was listed in."""
    retention = Retention(1, "configuration")
    entry = resource("e-0001", "cfg-a", 1)

    retention.offer("e-0001", Deleting(Status.DEAD), entry)
    retention.close()

    assert retention.kept[0].status is Status.DEAD


def test_a_selection_without_keep_latest_has_no_retention():
    """Retention is only made for a selection with keep_latest, with its grouping."""
    made = Retention.of(Selection(keep_latest=3, keep_latest_per="executable"))

    assert Retention.of(Selection(statuses="DEAD")) is None
    assert made is not None
    assert (made.keep, made.per) == (3, "executable")


def test_keep_latest_groups_per_configuration_unless_told_and_is_a_filter():
    """keep_latest_per defaults to configuration with keep_latest, and to None without it."""
    assert Selection(keep_latest=2).keep_latest_per == "configuration"
    assert Selection(keep_latest=2, keep_latest_per="scenario").keep_latest_per == "scenario"
    assert Selection().keep_latest_per is None
    assert not Selection(keep_latest=1).filters_nothing


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"keep_latest": 0},
            "keep_latest must be a whole number >= 1, got 0 (to keep nothing, leave keep_latest "
            "out)",
        ),
        (
            {"keep_latest": -2},
            "keep_latest must be a whole number >= 1, got -2 (to keep nothing, leave "
            "keep_latest out)",
        ),
        ({"keep_latest": "3"}, "keep_latest must be a whole number >= 1, not str"),
        ({"keep_latest": 2.5}, "keep_latest must be a whole number >= 1, not float"),
        ({"keep_latest": True}, "keep_latest must be a whole number >= 1, not bool"),
        (
            {"keep_latest": 2, "keep_latest_per": "deployment"},
            "keep_latest_per must be 'configuration', 'scenario' or 'executable', not 'deployment'",
        ),
        (
            {"keep_latest": 2, "keep_latest_per": None},
            "keep_latest_per must be 'configuration', 'scenario' or 'executable', not None",
        ),
        ({"keep_latest_per": "scenario"}, "keep_latest_per needs keep_latest"),
    ],
    ids=["zero", "negative", "text", "float", "bool", "unknown-per", "none-per", "per-alone"],
)
def test_bad_retention_arguments_are_refused_when_the_selection_is_built(arguments, message):
    """A keep_latest that is not a whole number >= 1, or a bad grouping, is an InputError."""
    with pytest.raises(InputError) as caught:
        Selection(**arguments)

    assert str(caught.value) == message


def test_the_plan_table_shows_the_first_twenty_kept_items_and_counts_the_rest():
    """Past twenty kept items the table points to the JSON; an unread status is said so."""
    kept = (
        KeptItem("e-none", None, "one of the 2 newest of configuration cfg-a"),
        *(
            KeptItem(f"e-{n:04d}", Status.DEAD, "one of the 2 newest of configuration cfg-b")
            for n in range(24)
        ),
    )
    plan = Plan(
        kind="executions",
        target=Target.DELETED,
        items=(),
        paths=dict.fromkeys(Route, 0),
        requests=0,
        reads=1,
        duplicates=0,
        kept=kept,
    )

    lines = plan_table(
        plan, resource_group="default", concurrency=16, rate=None, seconds_per_request=0.1
    ).splitlines()

    assert "kept, not changed: 25 items" in lines
    assert "  keep e-none (status unknown): one of the 2 newest of configuration cfg-a" in lines
    assert "  keep e-0018 (DEAD): one of the 2 newest of configuration cfg-b" in lines
    assert not any("e-0019" in line for line in lines)
    assert "  ... and 5 more (see --output json)" in lines
