"""What a person (or a log) sees while a run goes: a bar on a terminal, lines elsewhere.

Log records are the library's own (``-v``, ``-vv``); the bar only makes room for them (see
:mod:`aicore_bulk._cli._logs`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from typing import Final, TextIO

import attrs

from aicore_bulk import (
    Event,
    ItemSettled,
    PlanReady,
    RequestAnswered,
    RequestSent,
)
from aicore_bulk._cli._streams import say

#: A terminal bar redraws at most this often; plain lines come this far apart.
_BAR_EVERY: Final = 0.1
_LINE_EVERY: Final = 5.0
_BAR_WIDTH: Final = 24


@attrs.define(eq=False)
class Progress:
    """Counts the run's events and shows them on ``stream``.

    ``bar`` redraws one line in place (for a terminal); otherwise a plain line is written
    every few seconds. ``ndjson`` writes each settled item as a JSON line to ``items_out``.

    Nothing is shown, and no item written, until :meth:`start`: a run that is refused,
    declined or interrupted at its confirmation prints no progress and no items, and the time
    a person takes to answer counts in no rate or ETA.
    """

    stream: TextIO | None
    bar: bool
    verb: str
    items_out: TextIO | None = None
    #: Requests in flight at once: with round trips, it gives an ETA before any change answers.
    concurrency: int = 1
    total: int = 0
    settled: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    #: The fewest change requests the plan needs, and those answered since :meth:`start`.
    changes_planned: int = 0
    changes_answered: int = 0
    _started: float | None = None
    _requests_before: int = 0
    _round_trips: float = 0.0
    _answers: int = 0
    _interrupted: bool = False
    _pending: list[str] = attrs.field(factory=list)
    _drawn: float = 0.0
    #: The bar is on the screen (drawn, and its line not yet ended by :meth:`close`).
    _shown: bool = False

    def __call__(self, event: Event) -> None:
        """Take one event."""
        if isinstance(event, PlanReady):
            self.total = event.total
            self.changes_planned = event.requests
        elif isinstance(event, ItemSettled):
            # Once interrupted, the run settles every item left as not done (skipped,
            # failed or unknown): counting those would fill the bar as if all were done.
            if not self._interrupted or event.result.outcome.ok:
                self.settled += 1
            if self.items_out is not None:
                self._write_item(json.dumps(event.result.to_json()))
        elif isinstance(event, RequestSent):
            self.requests += 1
            self.retries += event.attempt > 1
        elif isinstance(event, RequestAnswered):
            self.throttled += event.status == 429  # noqa: PLR2004
            if event.status is not None:
                self._round_trips += event.seconds
                self._answers += 1
                answered = event.items and event.status != 429  # noqa: PLR2004
                self.changes_answered += bool(answered and self._started is not None)
        self._show()

    def clear(self) -> None:
        """Wipe the bar's line, so that a log record can take it (then :meth:`redraw`)."""
        if self._shown and self.stream is not None:
            say("\r\x1b[K", self.stream, end="")

    def redraw(self) -> None:
        """Draw the bar again, below what was just written."""
        if self._shown:
            self._show(force=True)

    def start(self) -> None:
        """The run is confirmed and starts changing items: show it from now on."""
        self._started = time.monotonic()
        self._requests_before = self.requests
        pending, self._pending = self._pending, []
        if self.items_out is not None:
            for line in pending:
                say(line, self.items_out)
        self._show(force=True)

    def interrupted(self) -> None:
        """The run was interrupted: items it settles from now on as not done are not counted."""
        self._interrupted = True

    def _write_item(self, line: str) -> None:
        if self._started is None:
            self._pending.append(line)
        elif self.items_out is not None:
            say(line, self.items_out)

    def _show(self, *, force: bool = False) -> None:
        if self.stream is None or not self.total or self._started is None:
            return
        now = time.monotonic()
        if not force and now - self._drawn < (_BAR_EVERY if self.bar else _LINE_EVERY):
            return
        self._drawn = now
        if self.bar:
            # Cut to the terminal: a bar that wraps can no longer be redrawn in place. The
            # drawing goes first, so the counts and the state at the end stay readable.
            width = max(_terminal_width(self.stream) - 1, 1)
            line = self.line(now)
            if len(line) > width:
                line = self.line(now, drawing=False)
            line = line[:width]
            say("\r" + line + "\x1b[K", self.stream, end="")
            self._shown = True
        else:
            say(self.line(now), self.stream)

    def line(self, now: float, *, drawing: bool = True) -> str:
        """One line: items settled out of total, requests per second, retries, 429s, ETA."""
        started = self._started if self._started is not None else now
        elapsed = max(now - started, 1e-6)
        share = self.settled / self.total if self.total else 0.0
        filled = round(share * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled) if self.bar and drawing else ""
        rate = (self.requests - self._requests_before) / elapsed
        eta = self.eta(now)
        parts = [
            f"{self.verb} {self.settled:,}/{self.total:,}",
            bar,
            f"{share:4.0%}",
            f"{rate:.0f} req/s",
            f"retries {self.retries}",
            f"429s {self.throttled}",
            "interrupted" if self._interrupted else f"ETA {_seconds(eta)}",
        ]
        return "  ".join(part for part in parts if part)

    def eta(self, now: float) -> float | None:
        """Seconds left, from the change requests left and how fast they are answered.

        How fast: the rate the run has reached so far (change requests answered per second
        since the start, which is what the pacer has learned the service allows); before any
        change has answered, the measured round trips at full concurrency. None: no measure
        yet. Items waiting for a stop to finish are not in it.
        """
        if self.total and self.settled >= self.total:
            return 0.0
        left = max(self.changes_planned - self.changes_answered, 1)
        if self.changes_answered and self._started is not None:
            return left * (now - self._started) / self.changes_answered
        if self._answers:
            return math.ceil(left / self.concurrency) * self._round_trips / self._answers
        return None

    def close(self) -> None:
        """Draw the final state and end the line (nothing, if the run never started)."""
        if self.stream is None or self._started is None:
            return
        self._show(force=True)
        if self.bar and self.total:
            say("", self.stream)
        self._shown = False


def _terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` shows on (``COLUMNS`` wins, as for every tool)."""
    if not os.environ.get("COLUMNS"):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            pass  # not a terminal's stream: ask shutil (stdout's terminal, or 80)
    return shutil.get_terminal_size().columns


def _seconds(value: float | None) -> str:
    return "--" if value is None else f"{value:.0f}s"
