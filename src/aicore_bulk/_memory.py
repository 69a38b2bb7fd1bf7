"""Remembered limits: what a run learned of the service's rate limit, kept for the next run.

A nightly run against the same tenant would otherwise learn the limit from scratch each
night, and pay for it in 429s (each one a whole ``Retry-After`` of idle time). With
``Limits(remember=True)`` (the command line's default) a run starts from what the last one
learned and saves what it learned itself at its end, interrupted or not.

Where: ``$XDG_CACHE_HOME/aicore-bulk/limits.json`` (``~/.cache`` when the variable is unset
or not an absolute path, as the XDG base directory specification says). It is a cache:
deleting it only costs the next run a few 429s.

What: one entry per service host (the AI API's) and tenant (the token URL's host, which
carries the subaccount's subdomain), under a hash of the two, so the file names no tenant
and holds no secret, token or client ID. Each entry holds the estimated limit
(``ceiling``), the gateway's burst, the rate in force at the end, the concurrency window
(once the window is adaptive) and when the limit was learned.

How: written whole to a temporary file and renamed over the old one, so a reader never
sees half a file; mode 0600 in a directory of mode 0700. Two runs that finish at once
race, and the last one wins: either record is a fine start. A file that cannot be read,
is not ours or is of another version is ignored with a WARNING record, never an error:
the run goes on as if nothing were remembered.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import attrs

from aicore_bulk._clock import Clock
from aicore_bulk._logging import get_logger, log
from aicore_bulk._transport import host_of

#: The version of the file's layout; a file of any other version is ignored (and replaced).
VERSION: Final = 1
#: The file under the cache directory.
FILE: Final = Path("aicore-bulk") / "limits.json"
#: A remembered limit is forgotten after this many seconds (a week). The pacer probes
#: beyond what it learned only slowly (see ``_rate``), and a run that draws no 429 does not
#: renew the record: a limit raised since (a plan upgrade, a support ticket) is found again,
#: at the latest, by the first run after a week, which starts unpaced.
MAX_AGE: Final = 7 * 24 * 3600.0

_log = get_logger("memory")


@attrs.frozen(kw_only=True)
class LearnedLimits:
    """What a run learned of the service's limits.

    Attributes:
        ceiling: The estimated limit, in requests per second (None: no 429 taught one).
        burst: How many requests the gateway lets through at once (None with ``ceiling``).
        rate: The adaptive rate in force at the end of the run (None with ``ceiling``).
        learned_at: When the limit was last learned from a 429, or else when the window was
            (seconds since the epoch).
        window: The concurrency window at the end (None: not known).

    """

    ceiling: float | None
    burst: float | None
    rate: float | None
    learned_at: float
    window: int | None = None


@attrs.define(eq=False)
class LimitsMemory:
    """The entry of one service and tenant in the limits file."""

    path: Path
    #: The entry's name: a hash of the service host and the tenant.
    key: str
    clock: Clock = attrs.field(repr=False)
    max_age: float = MAX_AGE

    @classmethod
    def for_service(
        cls,
        *,
        base_url: str,
        token_url: str,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
    ) -> LimitsMemory:
        """The memory of the service at ``base_url`` for the tenant that ``token_url`` serves."""
        identity = f"{host_of(base_url)}\n{host_of(token_url)}".lower()
        key = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return cls(cache_dir(os.environ if environ is None else environ) / FILE, key, clock)

    def recall(self) -> LearnedLimits | None:
        """The limits remembered for this service and tenant (None: none, or too old)."""
        entry = self._read().get(self.key)
        if entry is None:
            return None
        learned = _parse_entry(entry)
        if learned is None:
            _warn("ignoring a malformed entry in %s", self.path)
            return None
        if self.clock.time() - learned.learned_at > self.max_age:
            return None  # the limit may have been raised since: learn it afresh
        return learned

    def keep(self, learned: LearnedLimits) -> None:
        """Save ``learned`` for this service and tenant; other entries stay (expired ones go)."""
        now = self.clock.time()
        entries = {
            key: entry
            # What cannot be read was reported when it was recalled, and is replaced now.
            for key, entry in self._read(warn=False).items()
            if key != self.key
            and (parsed := _parse_entry(entry)) is not None
            and now - parsed.learned_at <= self.max_age
        }
        entries[self.key] = _entry(learned)
        text = json.dumps({"version": VERSION, "limits": entries}, indent=2, sort_keys=True)
        try:
            _write_atomically(self.path, text + "\n")
        except OSError as error:
            _warn("could not save the learned limits to %s: %s", self.path, _reason(error))

    def _read(self, *, warn: bool = True) -> dict[str, object]:
        """The file's entries; nothing (and a WARNING) when it is unreadable or not ours."""
        level = logging.WARNING if warn else logging.DEBUG
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            log(_log, level, "ignoring %s: %s", self.path, _reason(error))
            return {}
        try:
            document = json.loads(text)
        except ValueError:
            log(_log, level, "ignoring %s: not JSON", self.path)
            return {}
        if not isinstance(document, dict) or document.get("version") != VERSION:
            log(_log, level, "ignoring %s: not a version %d limits file", self.path, VERSION)
            return {}
        entries = document.get("limits")
        if not isinstance(entries, dict):
            log(_log, level, "ignoring %s: no limits in it", self.path)
            return {}
        return entries


def cache_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_CACHE_HOME``, or ``~/.cache`` when it is unset, empty or relative (as XDG says)."""
    configured = environ.get("XDG_CACHE_HOME", "")
    if configured and Path(configured).is_absolute():
        return Path(configured)
    return Path.home() / ".cache"


def _entry(learned: LearnedLimits) -> dict[str, object]:
    return {
        "ceiling": learned.ceiling,
        "burst": learned.burst,
        "rate": learned.rate,
        "window": learned.window,
        "learned_at": dt.datetime.fromtimestamp(learned.learned_at, dt.UTC).isoformat(),
    }


def _parse_entry(entry: object) -> LearnedLimits | None:
    """An entry of the file, checked (None: malformed)."""
    if not isinstance(entry, dict):
        return None
    names = ("ceiling", "burst", "rate")
    ceiling, burst, rate = (_positive(entry.get(name)) for name in names)
    window, learned_at = entry.get("window"), entry.get("learned_at")
    bad_window = window is not None and (type(window) is not int or window < 1)
    # A rate limit is all three numbers or none of them (a record of the window alone).
    bad_limit = (ceiling is None or burst is None or rate is None) and (
        window is None or any(entry.get(name) is not None for name in names)
    )
    if not isinstance(learned_at, str) or bad_window or bad_limit:
        return None
    try:
        at = dt.datetime.fromisoformat(learned_at)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return LearnedLimits(
        ceiling=ceiling, burst=burst, rate=rate, learned_at=at.timestamp(), window=window
    )


def _positive(value: object) -> float | None:
    """A finite number above zero (JSON's ``true`` is no number), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value < float("inf") else None


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``.

    The directory is ours alone (0700): the file holds nothing secret, but which services a
    user runs against, and how hard, is nobody else's business. ``mkstemp`` makes the file
    0600.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".limits-", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        temporary.replace(path)  # os.replace: atomic on POSIX, and over an existing file
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _reason(error: OSError | UnicodeDecodeError) -> str:
    return getattr(error, "strerror", None) or "not readable text"


def _warn(message: str, *args: object) -> None:
    log(_log, logging.WARNING, message, *args)
