"""The journal and resume: a run killed at any moment is finished, and nothing confirmed is resent.

A kill is emulated in-process: at a chosen progress event the journal's files are copied (what a
``SIGKILL`` at that instant leaves on disk) and the run is broken off with an exception. The
resume then starts from the copy, with a new client, as a new process would.
The real ``SIGKILL`` trials are in ``tests/cli/test_kill_and_resume.py``.
"""

from __future__ import annotations

import random
import shutil
import sqlite3

import attrs
import pytest

from aicore_bulk import InputError, ItemSettled, Outcome, PlanReady, RequestSent, Status
from aicore_bulk._journal import FINAL, Journal

MIX = {"COMPLETED": 4, "DEAD": 1, "RUNNING": 2, "PENDING": 1, "STOPPING": 1}
#: Faults that leave items in doubt (cut-off answers, dropped connections) without exhausting
#: the retries, so every trial can end with every item gone.
DOUBT = {"truncated_bodies": 0.05, "dropped_connections": 0.03}


class Killed(Exception):  # noqa: N818 - it stands for a signal, not an error
    """Breaks a run off the way SIGKILL would."""


def killer(at: int, counted: type, journal, copy):
    """At the ``at``-th ``counted`` event after the plan: copy the journal, then die."""
    seen = {"events": 0, "planned": False, "killed": False}

    def listen(event) -> None:
        if seen["killed"] and isinstance(event, RequestSent):
            # Another task may reach its next request before the exception ends the run:
            # after a SIGKILL nothing leaves, so it dies too, before its request goes out.
            raise Killed
        if isinstance(event, PlanReady):
            seen["planned"] = True
            return
        if not seen["planned"] or not isinstance(event, counted):
            return
        seen["events"] += 1
        if seen["events"] == at:
            for suffix in ("", "-wal"):
                source = journal.with_name(journal.name + suffix)
                if source.exists():
                    shutil.copy(source, copy.with_name(copy.name + suffix))
            seen["killed"] = True
            raise Killed

    return listen


def with_faults(simulator, **faults):
    simulator.set_faults(attrs.evolve(simulator.config.faults, **faults))


async def test_a_journal_records_every_item_as_the_report_does(client, aicore_simulator, tmp_path):
    ids = aicore_simulator.seed("executions", 500, statuses=MIX)
    journal = tmp_path / "run.journal"

    report = await client.delete("executions", [*ids, "gone-00001", ids[0]], journal=journal)

    book = Journal.open(journal)
    recorded = {entry.result.id: entry.result for entry in book.items()}
    run = book.run()
    book.close()
    assert list(recorded) == [*ids, "gone-00001"]  # input order, each once
    assert {item.id: item for item in report} == recorded
    assert {type(item.status) for item in recorded.values()} == {Status, type(None)}
    assert (run.kind, run.target.value, run.resource_group) == ("executions", "DELETED", "default")
    assert run.duplicates == 1
    assert sum(run.plan.values()) == len(recorded)


async def test_a_journal_path_that_exists_is_refused_before_anything_is_sent(
    client, aicore_simulator, tmp_path
):
    journal = tmp_path / "run.journal"
    journal.write_text("keep me")
    ids = aicore_simulator.seed("executions", 3, statuses={"DEAD": 1})

    with pytest.raises(InputError, match="already exists: resume it"):
        await client.delete("executions", ids, journal=journal)

    assert aicore_simulator.statistics().total_requests == 0
    assert journal.read_text() == "keep me"


@pytest.mark.parametrize("trial", range(20))
async def test_a_run_killed_at_a_random_moment_is_finished_by_resume(
    trial, make_client, aicore_simulator, tmp_path
):
    """20 random kill points: each resume ends with every item gone and nothing confirmed resent."""
    rng = random.Random(trial)  # noqa: S311 - picks kill points
    aicore_simulator.store.stop_delay = 3.0
    ids = aicore_simulator.seed("executions", 400, statuses=MIX)
    with_faults(aicore_simulator, **DOUBT)
    journal, copy = tmp_path / "run.journal", tmp_path / "killed.journal"
    # The run sends about 14 requests and settles 400 items: kill just as a request goes out
    # (its answer never taken in), or between two items of one answer (half of it journaled).
    if trial % 2:
        listen = killer(rng.randint(1, 12), RequestSent, journal, copy)
    else:
        listen = killer(rng.randint(1, 390), ItemSettled, journal, copy)

    async with make_client() as first:
        with pytest.raises((Killed, BaseExceptionGroup)) as killed:  # wrapped, or not
            await first.delete("executions", ids, journal=journal, listener=listen)
    assert killed.errisinstance(Killed) or killed.group_contains(Killed)

    book = Journal.open(copy)
    before = book.items()
    book.close()
    received = {i: aicore_simulator.changes_received("executions", i) for i in ids}
    async with make_client() as second:
        resumed = await second.resume(copy)

    assert [item.id for item in resumed] == ids
    # Nobody else deletes here, so each item is ours to report as deleted: a delete in flight
    # at the kill is known from the journal's write-ahead, not mistaken for "already absent".
    assert {item.outcome for item in resumed} == {Outcome.DELETED}, resumed.summary
    for item_id in ids:
        truth = aicore_simulator.state("executions", item_id)
        assert truth is None or truth.deleted, item_id
    for entry in before:
        now = aicore_simulator.changes_received("executions", entry.result.id)
        if entry.result.outcome in FINAL and not entry.open:
            assert now == received[entry.result.id], entry  # confirmed: never sent again
            assert resumed.items[entry.seq - 1] == entry.result
        if entry.stopped_by_us:
            assert now["stop"] == received[entry.result.id]["stop"], entry
    carried = sum(not entry.open for entry in before)
    assert resumed.summary.carried_over == carried
    assert aicore_simulator.statistics().violation_count == 0


async def test_an_interrupted_run_is_finished_by_resume(make_client, aicore_simulator, tmp_path):
    """SIGINT's Python form: the report says interrupted, the journal lets a resume finish."""
    import anyio  # noqa: PLC0415

    aicore_simulator.store.stop_delay = 5.0
    ids = aicore_simulator.seed("executions", 300, statuses={"COMPLETED": 1, "RUNNING": 1})
    journal = tmp_path / "run.journal"
    interrupt = anyio.Event()

    def on_first_answer(event) -> None:
        if getattr(event, "operation", None) == "bulk" and getattr(event, "status", 0):
            interrupt.set()

    async with make_client(run_options={"grace": 0.5}) as first:
        cut = await first.delete(
            "executions", ids, journal=journal, interrupt=interrupt, listener=on_first_answer
        )
    async with make_client() as second:
        resumed = await second.resume(journal)

    assert cut.summary.interrupted
    assert not cut.ok
    assert resumed.ok
    assert resumed.summary.carried_over == sum(item.outcome.ok for item in cut)
    assert all(aicore_simulator.state("executions", i).deleted for i in ids)


async def test_resuming_a_finished_run_sends_no_change(client, aicore_simulator, tmp_path):
    ids = aicore_simulator.seed("executions", 50, statuses={"DEAD": 1})
    journal = tmp_path / "run.journal"
    first = await client.delete("executions", ids, journal=journal)
    mutating = aicore_simulator.statistics().mutating_requests

    again = await client.resume(journal)

    assert again.items == first.items
    assert again.summary.carried_over == 50
    assert aicore_simulator.statistics().mutating_requests == mutating


async def test_a_stop_run_resumes_as_a_stop_run(client, aicore_simulator, tmp_path):
    ids = aicore_simulator.seed("executions", 40, statuses={"RUNNING": 1})
    journal = tmp_path / "run.journal"
    with_faults(aicore_simulator, truncated_bodies=1.0)  # every answer cut off: all in doubt
    first = await client.stop("executions", ids, journal=journal)
    with_faults(aicore_simulator, truncated_bodies=0.0)

    resumed = await client.resume(journal)

    assert resumed.target.value == "STOPPED"
    assert {item.outcome for item in first} <= {Outcome.UNKNOWN, Outcome.STOPPED}
    # Our unconfirmed stops did happen: they are ours, and none is sent twice.
    assert {item.outcome for item in resumed} == {Outcome.STOPPED}
    assert all(aicore_simulator.changes_received("executions", i)["stop"] == 1 for i in ids)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no journal at"),
        (b"not a database at all, just text", "is not a"),
        (b"", "is not an aicore-bulk journal"),
    ],
    ids=["missing", "garbage", "empty"],
)
async def test_resume_refuses_what_is_not_a_journal(client, tmp_path, content, message):
    path = tmp_path / "run.journal"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        await client.resume(path)


async def test_resume_refuses_a_journal_of_another_resource_group(
    make_client, aicore_simulator, tmp_path
):
    ids = aicore_simulator.seed("executions", 5, statuses={"DEAD": 1})
    journal = tmp_path / "run.journal"
    async with make_client() as first:
        await first.delete("executions", ids, journal=journal)
    async with make_client(resource_group="other") as second:
        with pytest.raises(InputError, match="belongs to resource group 'default'"):
            await second.resume(journal)


async def test_a_journal_of_another_format_is_refused(client, aicore_simulator, tmp_path):
    ids = aicore_simulator.seed("executions", 5, statuses={"DEAD": 1})
    journal = tmp_path / "run.journal"
    await client.delete("executions", ids, journal=journal)
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE run SET value = '99' WHERE key = 'format'")
    db.close()

    with pytest.raises(InputError, match="format 99"):
        await client.resume(journal)


async def test_no_secret_reaches_the_journal(client, aicore_simulator, tmp_path):
    ids = aicore_simulator.seed("executions", 200, statuses=MIX)
    with_faults(aicore_simulator, **DOUBT, server_errors=0.1)
    journal = tmp_path / "run.journal"
    await client.delete("executions", ids, journal=journal)

    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    secrets = [aicore_simulator.config.client_secret, *aicore_simulator._tokens]
    assert not any(secret.encode() in stored for secret in secrets)


async def test_a_journal_that_cannot_be_written_stops_the_run_with_a_full_report(
    client, aicore_simulator, tmp_path, monkeypatch
):
    """A full disk mid-run: nothing more is sent, and every item is still in the report."""
    ids = aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})
    writes = {"n": 0}
    write = Journal._write

    def fail_on_the_third(self, sql, rows):
        writes["n"] += 1
        if writes["n"] == 3:
            monkeypatch.setattr(self, "_db", _FullDisk(self._db))
        write(self, sql, rows)

    monkeypatch.setattr(Journal, "_write", fail_on_the_third)

    report = await client.delete("executions", ids, journal=tmp_path / "run.journal")

    assert len(report) == 1_000
    stopped = [item for item in report if item.outcome in {Outcome.FAILED, Outcome.UNKNOWN}]
    assert stopped
    assert all("cannot write journal" in item.message for item in stopped)
    assert aicore_simulator.statistics().mutating_requests < 10  # it stopped sending


class _FullDisk:
    """A connection whose every write fails as on a full disk."""

    def __init__(self, db) -> None:
        self._db = db

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self._db.rollback()

    def executemany(self, *_):
        raise sqlite3.OperationalError("database or disk is full")

    def close(self) -> None:
        self._db.close()
