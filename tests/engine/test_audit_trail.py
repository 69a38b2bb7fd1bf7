"""The audit trail: every report, and every journal, says which run it was and what shaped it."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3

import pytest

from aicore_bulk import (
    InputError,
    Limits,
    RetryPolicy,
    RunInfo,
    RunSettings,
    __version__,
    read_journal,
)
from aicore_bulk._run import _without_credentials
from aicore_bulk.testing._clock import DEFAULT_START

START = dt.datetime.fromtimestamp(DEFAULT_START, dt.UTC)


async def test_a_report_carries_the_run_record_of_its_run(make_client, aicore_simulator):
    """The report's run names the run, the tool, the service, the times and the options."""
    ids = aicore_simulator.seed("executions", 30, statuses={"RUNNING": 1, "DEAD": 2})
    async with make_client(
        limits=Limits(concurrency=4, rate=50.0),
        retry=RetryPolicy(attempts=3, request_timeout=9.0),
        run_options={"stop_wait": 60.0},
    ) as client:
        report = await client.delete(
            "executions", ids, deadline=600.0, labels={"ticket": "OPS-1234"}
        )

    run = report.run
    assert run is not None
    assert re.fullmatch(r"20260101T000000Z-[0-9a-f]{12}", run.id)
    assert run.resumes is None
    assert run.tool_version == __version__
    assert run.base_url == client._connection.base_url
    assert (run.resource_group, run.kind, run.target.value) == ("default", "executions", "DELETED")
    assert run.started_at == START  # the run's (virtual) clock, not the machine's
    assert run.finished_at is not None
    seconds = (run.finished_at - run.started_at).total_seconds()
    assert seconds == pytest.approx(report.summary.seconds, abs=1e-3)
    assert seconds > 0  # the stops took virtual time
    assert not run.interrupted
    assert run.options == RunSettings(
        concurrency=4,
        rate=50.0,
        adaptive=True,
        attempts=3,
        request_timeout=9.0,
        deadline=600.0,
        stop_wait=60.0,
        poll_interval=1.0,
        page_size=100_000,
        batch_wait=10.0,
        grace=5.0,
        journal=None,
        labels={"ticket": "OPS-1234"},
    )


async def test_the_run_record_is_in_the_documented_json_form(client, aicore_simulator):
    """``to_json()`` has a top-level ``run`` with ISO 8601 UTC times and the options."""
    ids = aicore_simulator.seed("executions", 3, statuses={"DEAD": 1})

    data = (await client.delete("executions", ids)).to_json()

    run = data["run"]
    assert list(run) == [
        "id",
        "resumes",
        "tool_version",
        "base_url",
        "resource_group",
        "resource_groups",
        "kind",
        "target",
        "started_at",
        "finished_at",
        "interrupted",
        "options",
    ]
    assert run["started_at"] == "2026-01-01T00:00:00.000Z"
    assert re.fullmatch(r"2026-01-01T00:00:\d\d\.\d{3}Z", run["finished_at"])
    assert run["options"]["labels"] == {}
    assert run["options"]["concurrency"] == 64
    assert RunInfo.from_json(run).to_json() == run  # the form reads back as it was written


async def test_every_run_gets_an_id_of_its_own_that_sorts_by_start(
    client, aicore_simulator, aicore_clock
):
    """Two runs never share an ID, and a later run's ID sorts after an earlier one's."""
    ids = aicore_simulator.seed("executions", 4, statuses={"DEAD": 1})

    first = await client.delete("executions", ids[:2])
    aicore_clock.advance(1.0)
    second = await client.delete("executions", ids[2:])

    assert first.run is not None
    assert second.run is not None
    assert first.run.id < second.run.id


def test_credentials_in_a_url_never_reach_the_run_record():
    """User information, a query and a fragment are dropped from the recorded URL."""
    assert _without_credentials("https://me:s3cret@api.example.com:8443/v2?sig=x#y") == (
        "https://api.example.com:8443/v2"
    )
    assert _without_credentials("http://127.0.0.1:8080/v2") == "http://127.0.0.1:8080/v2"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"max_items": 5000}, "'max_items' maps to a int"),
        ({1: "x"}, "key 1 is a int"),
        (["a", "b"], "not list"),
    ],
    ids=["number-value", "number-key", "not-a-mapping"],
)
async def test_labels_that_are_not_text_are_refused_before_anything_is_sent(
    client, aicore_simulator, labels, message
):
    """Labels must map text to text: anything else is an InputError, and nothing is sent."""
    with pytest.raises(InputError, match=message):
        await client.delete("executions", ["e-0001"], labels=labels)

    assert aicore_simulator.statistics().total_requests == 0


async def test_the_journal_keeps_the_run_record_and_a_resume_names_the_run_it_resumes(
    client, aicore_simulator, aicore_clock, tmp_path
):
    """A journal holds its run's record; a resume is a new run whose ``resumes`` is that run."""
    ids = aicore_simulator.seed("executions", 20, statuses={"DEAD": 1})
    journal = tmp_path / "run.journal"
    first = await client.delete("executions", ids, journal=journal, labels={"why": "test"})
    aicore_clock.advance(60.0)

    recorded = read_journal(journal).run
    again = await client.resume(journal, labels={"command": "resume"})

    assert first.run is not None
    assert recorded is not None
    assert again.run is not None
    assert recorded.id == first.run.id
    assert recorded.finished_at is None  # written before the run ended
    assert recorded.options.journal == str(journal)
    assert recorded.options.labels == {"why": "test"}
    assert again.run.id != first.run.id
    assert again.run.resumes == first.run.id
    assert again.run.started_at == START + dt.timedelta(seconds=60)
    assert again.run.options.labels == {"command": "resume"}
    assert again.to_json()["run"]["resumes"] == first.run.id


async def test_a_journal_written_without_a_run_record_still_resumes(
    client, aicore_simulator, tmp_path
):
    """An older journal without the ``run`` key reads as ``run=None``, and its resume works."""
    ids = aicore_simulator.seed("executions", 5, statuses={"DEAD": 1})
    journal = tmp_path / "run.journal"
    await client.delete("executions", ids, journal=journal)
    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM run WHERE key = 'run'")
    db.close()

    assert read_journal(journal).run is None
    again = await client.resume(journal)

    assert again.ok
    assert again.run is not None
    assert again.run.resumes is None
