"""The limits file: one entry per service and tenant, atomic, private, forgiving, forgetful."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from aicore_bulk._memory import MAX_AGE, LearnedLimits, LimitsMemory, cache_dir
from aicore_bulk.testing import VirtualClock

SERVICE = "https://api.ai.prod.eu-central-1.aws.ml.hana.ondemand.com/v2"
TOKEN_URL = "https://tenant-a.authentication.eu10.hana.ondemand.com/oauth/token"


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def environ(tmp_path):
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


@pytest.fixture
def memory(clock, environ):
    return LimitsMemory.for_service(
        base_url=SERVICE, token_url=TOKEN_URL, clock=clock, environ=environ
    )


def learned(clock, **changes):
    values = {"ceiling": 19.5, "burst": 5.0, "rate": 18.0, "learned_at": clock.time(), **changes}
    return LearnedLimits(**values)


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "aicore_bulk.memory"]


def test_what_is_kept_is_recalled(memory, clock):
    """A record kept is the record recalled, window included, to the second."""
    record = learned(clock, window=24)

    memory.keep(record)

    assert memory.recall() == record
    assert memory.path.name == "limits.json"
    assert memory.path.parent.name == "aicore-bulk"


def test_nothing_is_recalled_before_anything_was_kept(memory, caplog):
    """With no file, nothing is recalled and nothing is logged."""
    assert memory.recall() is None
    assert warnings(caplog) == []


def test_each_service_and_tenant_has_its_own_entry(memory, clock, environ):
    """Another tenant or another service recalls nothing of this one's; both entries stay."""
    other_tenant = LimitsMemory.for_service(
        base_url=SERVICE,
        token_url=TOKEN_URL.replace("tenant-a", "tenant-b"),
        clock=clock,
        environ=environ,
    )
    other_service = LimitsMemory.for_service(
        base_url=SERVICE.replace("eu-central-1", "us-east-1"),
        token_url=TOKEN_URL,
        clock=clock,
        environ=environ,
    )
    memory.keep(learned(clock))

    assert other_tenant.recall() is None
    assert other_service.recall() is None
    other_tenant.keep(learned(clock, ceiling=50.0))
    assert memory.recall() == learned(clock)
    assert len(json.loads(memory.path.read_text())["limits"]) == 2


def test_the_key_names_neither_host(memory):
    """Entries are keyed by a hash: the file does not name the tenant or the service."""
    assert "tenant-a" not in memory.key
    assert len(memory.key) == 32


def test_a_limit_older_than_a_week_is_forgotten(memory, clock):
    """A record is recalled up to MAX_AGE after it was learned, and not after."""
    memory.keep(learned(clock))

    clock.advance(MAX_AGE - 1.0)
    assert memory.recall() is not None
    clock.advance(2.0)
    assert memory.recall() is None


def test_keeping_drops_other_expired_entries(memory, clock, environ):
    """Saving one entry drops the others' expired entries and keeps their fresh ones."""
    old = LimitsMemory.for_service(
        base_url="https://old.example", token_url=TOKEN_URL, clock=clock, environ=environ
    )
    old.keep(learned(clock))
    clock.advance(MAX_AGE + 1.0)
    fresh = LimitsMemory.for_service(
        base_url="https://fresh.example", token_url=TOKEN_URL, clock=clock, environ=environ
    )
    fresh.keep(learned(clock))

    memory.keep(learned(clock))

    assert set(json.loads(memory.path.read_text())["limits"]) == {fresh.key, memory.key}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"version": 2, "limits": {}}', "not a version 1 limits file"),
        ("[1, 2]", "not a version 1 limits file"),
        ('{"version": 1, "limits": []}', "no limits in it"),
        (b"\xff\xfe", "not readable text"),
    ],
    ids=["not-json", "foreign-version", "not-an-object", "no-limits", "not-text"],
)
def test_a_file_that_is_not_ours_is_ignored_with_a_warning(memory, clock, caplog, content, message):
    """A corrupt or foreign file is ignored with a WARNING; keeping replaces it with ours."""
    memory.path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        memory.path.write_bytes(content)
    else:
        memory.path.write_text(content)

    assert memory.recall() is None
    assert warnings(caplog) == [f"ignoring {memory.path}: {message}"]
    memory.keep(learned(clock))
    assert memory.recall() == learned(clock)


@pytest.mark.parametrize(
    "entry",
    [
        "nonsense",
        {"ceiling": -1, "burst": 5, "rate": 4, "learned_at": "2026-01-01T00:00:00+00:00"},
        {"ceiling": True, "burst": 5, "rate": 4, "learned_at": "2026-01-01T00:00:00+00:00"},
        {"ceiling": 9, "burst": 5, "rate": 4, "learned_at": 1767225600},
        {"ceiling": 9, "burst": 5, "rate": 4, "learned_at": "yesterday"},
        {"ceiling": 9, "burst": 5, "rate": 4, "learned_at": "2026-01-01T00:00:00"},
        {"ceiling": 9, "burst": 5, "rate": 4, "learned_at": "2026-01-01T00:00:00Z", "window": 0},
    ],
    ids=["not-an-object", "negative", "boolean", "number-date", "bad-date", "naive", "window"],
)
def test_a_malformed_entry_is_ignored_with_a_warning(memory, caplog, entry):
    """An entry with a value out of its type or range is ignored with a WARNING."""
    memory.path.parent.mkdir(parents=True)
    memory.path.write_text(json.dumps({"version": 1, "limits": {memory.key: entry}}))

    assert memory.recall() is None
    assert warnings(caplog) == [f"ignoring a malformed entry in {memory.path}"]


def test_an_unreadable_file_is_ignored_with_a_warning(memory, caplog):
    """A path that cannot be read (here a directory) is ignored with a WARNING."""
    memory.path.mkdir(parents=True)

    assert memory.recall() is None
    assert len(warnings(caplog)) == 1
    assert warnings(caplog)[0].startswith(f"ignoring {memory.path}: ")


def test_a_failed_save_is_a_warning_not_an_error(clock, tmp_path, caplog):
    """When the cache directory cannot be made, keeping logs a WARNING and raises nothing."""
    blocked = tmp_path / "file"
    blocked.write_text("")
    memory = LimitsMemory.for_service(
        base_url=SERVICE, token_url=TOKEN_URL, clock=clock, environ={"XDG_CACHE_HOME": str(blocked)}
    )
    caplog.set_level(logging.WARNING)

    memory.keep(learned(clock))

    (message,) = warnings(caplog)
    assert message.startswith(f"could not save the learned limits to {memory.path}: ")


def test_the_file_is_private_and_written_whole(memory, clock):
    """The file is 0600 in a 0700 directory, and no temporary file is left beside it."""
    memory.path.parent.mkdir(parents=True, mode=0o755)
    memory.path.parent.chmod(0o755)

    memory.keep(learned(clock))
    memory.keep(learned(clock, ceiling=30.0))

    assert stat.S_IMODE(memory.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(memory.path.parent.stat().st_mode) == 0o700
    assert [path.name for path in memory.path.parent.iterdir()] == ["limits.json"]
    assert memory.recall() == learned(clock, ceiling=30.0)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(memory, clock, monkeypatch, caplog):
    """If the write fails half-way, the old file stays as it was and the temporary file goes."""
    memory.keep(learned(clock))
    before = memory.path.read_text()

    def broken(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", broken)
    memory.keep(learned(clock, ceiling=30.0))

    assert memory.path.read_text() == before
    assert [path.name for path in memory.path.parent.iterdir()] == ["limits.json"]
    assert warnings(caplog) == [
        f"could not save the learned limits to {memory.path}: No space left on device"
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"XDG_CACHE_HOME": "/var/cache/me"}, Path("/var/cache/me")),
        ({}, Path.home() / ".cache"),
        ({"XDG_CACHE_HOME": ""}, Path.home() / ".cache"),
        ({"XDG_CACHE_HOME": "relative/cache"}, Path.home() / ".cache"),
    ],
    ids=["set", "unset", "empty", "relative"],
)
def test_the_cache_directory_follows_xdg(environ, expected):
    """XDG_CACHE_HOME when it is an absolute path, else ~/.cache (XDG ignores relative ones)."""
    assert cache_dir(environ) == expected
