"""The journal: a run's items and their fate, on disk, so a killed run can be resumed.

It is an SQLite database in WAL mode. Why SQLite and not an append-only NDJSON log:

* a commit is atomic, so one transaction per answered request (up to 100 items) is all or
  nothing; a log needs torn-line handling and still mixes half-written requests with whole ones;
* rows are updated in place, so the file stays one row per item however many times an item is
  sent, and resuming reads one row per item instead of replaying every event of the run;
* it is in the standard library.

``synchronous=NORMAL`` in WAL mode makes each commit survive the process being killed
(``SIGKILL``, a crash): the commit is in the operating system's hands when ``commit()``
returns. Only a power cut can lose the last few commits, and it never corrupts the file.

What is written, and when (the engine calls these):

* :meth:`Journal.create` writes the run (kind, target, resource groups, URL, the plan's
  counts, and the run's audit record: its ID, version, start time and options) and every
  distinct ID in input order with its resource group, before the first change is sent;
* :meth:`Journal.sending`, *before* a change request goes out, marks its items as possibly
  changed (a write-ahead): a kill while the request is in flight leaves them in doubt, never
  "untouched";
* :meth:`Journal.record` writes items' outcomes and flags after an answer is taken in.

Resuming re-reads the status of every item without a final outcome, so the journal's flags
only decide how an outcome is *labelled* (``deleted`` rather than ``already_absent`` after a
delete that was in flight), never whether something is sent again blindly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

import attrs

from aicore_bulk._errors import InputError, JournalError
from aicore_bulk._models import KINDS, STATUS_BY_VALUE, Kind, Outcome, Target
from aicore_bulk._report import ItemResult, RunInfo

#: Bumped when the schema changes; a journal of another format is refused, not guessed at.
#: (The ``run`` key, the audit record, came later within format 1: the run table is keys and
#: values, so an older reader skips it and a journal without it reads as ``run=None``.)
#: Format 2 records each item's resource group (an ID is unique only within its group); a
#: journal of format 1, of a run in one group, is upgraded in place when it is resumed.
FORMAT: Final = 2
_FORMAT_ONE_GROUP: Final = 1
#: Outcomes a resume keeps as they are: the goal holds, or the rules say it never will.
FINAL: Final = frozenset(
    {
        Outcome.DELETED,
        Outcome.STOPPED,
        Outcome.ALREADY_ABSENT,
        Outcome.ALREADY_DELETING,
        Outcome.UNCHANGED,
        Outcome.SKIPPED,
    }
)

_SCHEMA: Final = """
CREATE TABLE run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    outcome TEXT,
    code TEXT,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT,
    unconfirmed INTEGER NOT NULL DEFAULT 0,
    delete_unsure INTEGER NOT NULL DEFAULT 0,
    stopped_by_us INTEGER NOT NULL DEFAULT 0,
    resource_group TEXT NOT NULL,
    UNIQUE (resource_group, id)
);
"""


@attrs.frozen(kw_only=True)
class RunRecord:
    """What a journal says about its run (see :func:`read_journal`).

    Attributes:
        kind: ``executions`` or ``deployments``.
        target: What the run asked for.
        resource_group: The resource group the run changed items in (several: joined by
            commas).
        base_url: The AI API it spoke to.
        duplicates: Repeated IDs in the run's input.
        plan: Items per route when the run started.
        run: The audit record of the run that wrote the journal (its ID, version, start
            time and options; ``finished_at`` None); None in a journal written before
            aicore-bulk kept one.
        include_running: The run may stop PENDING and RUNNING deployments.
        resource_groups: Every resource group the run changed items in.
        across_groups: The run was one across resource groups (``ResourceGroups``); a
            resume finishes it in every group, whatever the client's own group.

    """

    kind: Kind
    target: Target
    resource_group: str
    base_url: str
    duplicates: int
    plan: Mapping[str, int]
    run: RunInfo | None = None
    include_running: bool = False
    resource_groups: tuple[str, ...] = attrs.field(
        default=attrs.Factory(lambda record: (record.resource_group,), takes_self=True)
    )
    across_groups: bool = False


@attrs.frozen
class JournalItem:
    """One item as the journal last recorded it."""

    seq: int
    result: ItemResult
    #: Still open (no outcome) or not final: a resume runs it again.
    open: bool
    unconfirmed: bool
    delete_unsure: bool
    stopped_by_us: bool


@attrs.frozen
class ItemRecord:
    """An item's fate and flags, as the engine hands them to :meth:`Journal.record`."""

    id: str
    outcome: Outcome | None
    code: str | None
    message: str | None
    attempts: int
    status: str | None
    unconfirmed: bool
    delete_unsure: bool
    stopped_by_us: bool
    #: Carried by a request not yet answered (its write-ahead doubt must stay).
    in_flight: bool = False


class Journal:
    """An open journal; use :meth:`create` for a new run, :meth:`open` to resume one.

    Items are written in one resource group's name, ``group``; :meth:`for_group` gives the
    same journal for another group.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection, group: str = "") -> None:
        self.path = path
        self.group = group
        self._db = connection
        #: A write failed: the run is stopping, and later writes are skipped so that it can
        #: still settle every item in its report.
        self._failed = False
        self._format = FORMAT

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r}>"

    @staticmethod
    def check_new(path: str | os.PathLike[str]) -> Path:
        """Refuse a path that exists or cannot be created, before anything is sent."""
        where = Path(path)
        if where.exists():
            raise InputError(
                f"journal {where} already exists: resume it (aicore-bulk resume {where}) "
                "or choose another path"
            )
        if not where.parent.is_dir():
            raise InputError(f"journal {where}: no directory {where.parent}")
        try:
            # Try what the run will do: a folder's mode bits do not say it (root, ACLs, a
            # read-only file system).
            descriptor, probe = tempfile.mkstemp(dir=where.parent, prefix=".aicore-bulk-")
            os.close(descriptor)
            Path(probe).unlink()
        except OSError as error:
            reason = error.strerror or "not writable"
            raise InputError(f"journal {where}: cannot write in {where.parent}: {reason}") from None
        return where

    def for_group(self, group: str) -> Journal:
        """The same journal, writing items of ``group`` (closing either closes both)."""
        return Journal(self.path, self._db, group)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        run: RunRecord,
        ids: Iterable[str],
        settled: Iterable[ItemRecord],
    ) -> Journal:
        """Write a new journal: the run, every ID in input order, the items the plan settled."""
        return cls.create_groups(path, run, [(run.resource_group, ids, settled)])

    @classmethod
    def create_groups(
        cls,
        path: str | os.PathLike[str],
        run: RunRecord,
        groups: Iterable[tuple[str, Iterable[str], Iterable[ItemRecord]]],
    ) -> Journal:
        """Write a new journal in one transaction, for a run across resource groups.

        The run, then for each group every ID in input order and the items the plan settled.
        The journal returned writes in the first group's name.
        """
        where = cls.check_new(path)
        parts = [(group, ids, list(settled)) for group, ids, settled in groups]
        try:
            db = _connect(where)
            with db:
                db.executescript(_SCHEMA)
                meta = {
                    "format": FORMAT,
                    "kind": run.kind,
                    "target": run.target.value,
                    "resource_group": run.resource_group,
                    "resource_groups": list(run.resource_groups),
                    "base_url": run.base_url,
                    "duplicates": run.duplicates,
                    "plan": dict(run.plan),
                    "include_running": run.include_running,
                    "across_groups": run.across_groups,
                }
                if run.run is not None:
                    meta["run"] = run.run.to_json()
                db.executemany(
                    "INSERT INTO run VALUES (?, ?)",
                    ((key, json.dumps(value)) for key, value in meta.items()),
                )
                for group, ids, _ in parts:
                    db.executemany(
                        "INSERT INTO items (resource_group, id) VALUES (?, ?)",
                        ((group, i) for i in ids),
                    )
                for group, _, settled in parts:
                    db.executemany(_RECORD, _rows(settled, group))
            journal = cls(where, db, parts[0][0] if parts else "")
        except sqlite3.Error as error:
            raise JournalError(f"cannot write journal {where}: {error}") from None
        return journal

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, upgrade: bool = True) -> Journal:
        """Open an existing journal to resume its run.

        ``upgrade``: a journal of format 1 is brought to the current format first, so that
        the run can write to it.
        """
        where = Path(path)
        if not where.is_file():
            raise InputError(
                f"no journal at {where} (a journal is written once a run starts changing "
                "items; if there is none, nothing was changed: run the command again)"
            )
        try:
            db = _connect(where)
        except sqlite3.Error as error:
            raise InputError(f"{where} is not a journal: {error}") from None
        journal = cls(where, db)
        record = journal.run()  # fails early on a file that is not a journal of our format
        journal.group = record.resource_groups[0]
        if upgrade and journal._format == _FORMAT_ONE_GROUP:
            journal._upgrade(record.resource_group)
        return journal

    def _upgrade(self, group: str) -> None:
        """Format 1 to 2: every item is in the one group the run named."""
        try:
            with self._db:
                self._db.execute(
                    "ALTER TABLE items ADD COLUMN resource_group TEXT NOT NULL DEFAULT ''"
                )
                self._db.execute("UPDATE items SET resource_group = ?", (group,))
                self._db.execute(
                    "UPDATE run SET value = ? WHERE key = 'format'", (json.dumps(FORMAT),)
                )
        except sqlite3.Error as error:
            raise JournalError(f"cannot upgrade journal {self.path}: {error}") from None
        self._format = FORMAT

    def run(self) -> RunRecord:
        """The run this journal belongs to."""
        try:
            rows = dict(self._db.execute("SELECT key, value FROM run").fetchall())
            meta = {key: json.loads(value) for key, value in rows.items()}
        except (sqlite3.Error, json.JSONDecodeError):
            raise InputError(f"{self.path} is not an aicore-bulk journal") from None
        if meta.get("format") not in (FORMAT, _FORMAT_ONE_GROUP):
            raise InputError(
                f"{self.path} is a journal of format {meta.get('format')!r}; this version "
                f"reads format {FORMAT}"
            )
        self._format = meta["format"]
        kind = meta["kind"]
        if kind not in KINDS:  # pragma: no cover - only our own writer writes journals
            raise InputError(f"{self.path}: unknown kind {kind!r}")
        return RunRecord(
            kind=kind,
            target=Target(meta["target"]),
            resource_group=meta["resource_group"],
            base_url=meta["base_url"],
            duplicates=meta["duplicates"],
            plan=meta["plan"],
            run=RunInfo.from_json(meta["run"]) if "run" in meta else None,
            # Journals written before the flag existed: the safe reading.
            include_running=meta.get("include_running", False),
            resource_groups=tuple(meta.get("resource_groups") or (meta["resource_group"],)),
            across_groups=meta.get("across_groups", False),
        )

    def items(self) -> list[JournalItem]:
        """Every item in input order."""
        rows = self._db.execute(
            "SELECT seq, id, outcome, code, message, attempts, status, unconfirmed, "
            "delete_unsure, stopped_by_us, resource_group FROM items ORDER BY seq"
        )
        found = []
        for row in rows:
            seq, item_id, outcome, code, message, attempts, status, unsure, gone, ours, group = row
            known = Outcome(outcome) if outcome is not None else None
            seen = STATUS_BY_VALUE[status] if status is not None else None
            result = ItemResult(
                item_id, known or Outcome.UNKNOWN, code, message, attempts, seen, group
            )
            found.append(
                JournalItem(
                    seq,
                    result,
                    open=known not in FINAL,
                    unconfirmed=bool(unsure) or known is Outcome.UNKNOWN,
                    delete_unsure=bool(gone),
                    stopped_by_us=bool(ours),
                )
            )
        return found

    def sending(self, changes: Iterable[tuple[str, Target]]) -> None:
        """Before a change request goes out: its items (ID, target) may change from now on."""
        self._write(
            "UPDATE items SET unconfirmed = 1, delete_unsure = max(delete_unsure, ?) "
            "WHERE id = ? AND resource_group = ?",
            ((int(target is Target.DELETED), item_id, self.group) for item_id, target in changes),
        )

    def record(self, items: Iterable[ItemRecord]) -> None:
        """Write items' outcomes and flags in one transaction."""
        self._write(_RECORD, _rows(items, self.group))

    def close(self) -> None:
        """Close the database (the WAL is folded back into the main file)."""
        self._db.close()

    def _write(self, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
        if self._failed:
            return
        try:
            with self._db:
                self._db.executemany(sql, rows)
        except sqlite3.Error as error:
            self._failed = True
            raise JournalError(f"cannot write journal {self.path}: {error}") from None


#: An item's fate and flags. An item in flight in another request keeps the doubt its
#: write-ahead recorded.
_RECORD: Final = (
    "UPDATE items SET outcome = ?1, code = ?2, message = ?3, attempts = ?4, "
    "status = ?5, stopped_by_us = ?6, "
    "unconfirmed = CASE WHEN ?9 THEN max(unconfirmed, ?7) ELSE ?7 END, "
    "delete_unsure = CASE WHEN ?9 THEN max(delete_unsure, ?8) ELSE ?8 END "
    "WHERE id = ?10 AND resource_group = ?11"
)


def _rows(items: Iterable[ItemRecord], group: str) -> Iterator[tuple[object, ...]]:
    for item in items:
        yield (
            item.outcome.value if item.outcome is not None else None,
            item.code,
            item.message,
            item.attempts,
            item.status,
            int(item.stopped_by_us),
            int(item.unconfirmed),
            int(item.delete_unsure),
            int(item.in_flight),
            item.id,
            group,
        )


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def read_journal(path: str | os.PathLike[str]) -> RunRecord:
    """What the journal at ``path`` says about its run, without resuming it.

    Raises:
        InputError: No journal at that path, or a file that is not one of ours.
    """
    journal = Journal.open(path, upgrade=False)
    try:
        return journal.run()
    finally:
        journal.close()
