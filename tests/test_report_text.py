"""A report and a plan show as one line, however many items they hold."""

from __future__ import annotations

from aicore_bulk import ItemResult, Outcome, Plan, PlannedItem, Report, Route, Target


def big_report(n: int = 1_000) -> Report:
    items = tuple(
        ItemResult(f"e-{i:05d}", Outcome.FAILED if i < 2 else Outcome.DELETED) for i in range(n)
    )
    return Report.build(
        kind="executions",
        target=Target.DELETED,
        items=items,
        requests=11,
        mutating_requests=10,
        retries=0,
        throttled=0,
        duplicates=0,
        seconds=4.2,
    )


def test_a_report_is_one_line_of_counts():
    """A report's repr and str are the same one-line summary, with no item in it."""
    report = big_report()

    assert repr(report) == (
        "<Report executions DELETED: 1,000 items, 998 deleted, 2 failed, 11 requests, 4.2 s>"
    )
    assert str(report) == repr(report)
    assert report.items[0].id == "e-00000"  # the items are still there
    assert len(report.to_json()["items"]) == 1_000


def test_a_report_of_one_item_says_item_and_shows_an_interruption():
    """Counts of one are singular, and an interrupted run says so."""
    report = Report.build(
        kind="deployments",
        target=Target.STOPPED,
        items=(ItemResult("d-0001", Outcome.UNKNOWN),),
        requests=1,
        mutating_requests=1,
        retries=0,
        throttled=0,
        duplicates=0,
        seconds=0.04,
        interrupted=True,
    )

    assert repr(report) == (
        "<Report deployments STOPPED: 1 item, 1 unknown, 1 request, 0.0 s, interrupted>"
    )


def test_a_plan_is_one_line_of_counts():
    """A plan's repr and str are one line: items, items per route, requests and reads."""
    items = tuple(PlannedItem(f"e-{i:05d}", "DEAD", Route.DELETE, None) for i in range(500))
    plan = Plan(
        kind="executions",
        target=Target.DELETED,
        items=items,
        paths={"delete": 500, "stop": 0},
        requests=5,
        reads=1,
        duplicates=0,
    )

    assert repr(plan) == (
        "<Plan executions DELETED: 500 items (delete 500), 5 change requests, 1 read>"
    )
    assert str(plan) == repr(plan)
