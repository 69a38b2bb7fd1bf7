"""What a person (or a log) sees while a run goes: a bar on a terminal, lines elsewhere.

Log records are the library's own (``-v``, ``-vv``); the bar only makes room for them (see
:mod:`aicore_bulk._cli._logs`).
"""

from __future__ import annotations

import json
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

#: A terminal bar redraws at most this often; plain lines come this far apart.
_BAR_EVERY: Final = 0.1
_LINE_EVERY: Final = 5.0
_BAR_WIDTH: Final = 24


@attrs.define(eq=False)
class Progress:
    """Counts the run's events and shows them on ``stream``.

    ``bar`` redraws one line in place (for a terminal); otherwise a plain line is written
    every few seconds. ``ndjson`` writes each settled item as a JSON line to ``items_out``.
    """

    stream: TextIO | None
    bar: bool
    verb: str
    items_out: TextIO | None = None
    total: int = 0
    settled: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    _started: float = attrs.field(factory=time.monotonic)
    _drawn: float = 0.0
    #: The bar is on the screen (drawn, and its line not yet ended by :meth:`close`).
    _shown: bool = False

    def __call__(self, event: Event) -> None:
        """Take one event."""
        if isinstance(event, PlanReady):
            self.total = event.total
        elif isinstance(event, ItemSettled):
            self.settled += 1
            if self.items_out is not None:
                self.items_out.write(json.dumps(event.result.to_json()) + "\n")
                self.items_out.flush()
        elif isinstance(event, RequestSent):
            self.requests += 1
            self.retries += event.attempt > 1
        elif isinstance(event, RequestAnswered):
            self.throttled += event.status == 429  # noqa: PLR2004
        self._show()

    def clear(self) -> None:
        """Wipe the bar's line, so that a log record can take it (then :meth:`redraw`)."""
        if self._shown and self.stream is not None:
            self.stream.write("\r\x1b[K")

    def redraw(self) -> None:
        """Draw the bar again, below what was just written."""
        if self._shown:
            self._show(force=True)

    def _show(self, *, force: bool = False) -> None:
        if self.stream is None or not self.total:
            return
        now = time.monotonic()
        if not force and now - self._drawn < (_BAR_EVERY if self.bar else _LINE_EVERY):
            return
        self._drawn = now
        if self.bar:
            # Cut to the terminal: a bar that wraps can no longer be redrawn in place.
            line = self.line(now)[: max(_terminal_width(self.stream) - 1, 1)]
            self.stream.write("\r" + line + "\x1b[K")
            self._shown = True
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def line(self, now: float) -> str:
        """One line: items settled out of total, requests per second, retries, 429s, ETA."""
        elapsed = max(now - self._started, 1e-6)
        share = self.settled / self.total if self.total else 0.0
        filled = round(share * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled) if self.bar else ""
        rate = self.requests / elapsed
        eta = "--"
        if 0 < self.settled < self.total:
            eta = f"{(self.total - self.settled) * elapsed / self.settled:.0f}s"
        elif self.total and self.settled >= self.total:
            eta = "0s"
        parts = [
            f"{self.verb} {self.settled:,}/{self.total:,}",
            bar,
            f"{share:4.0%}",
            f"{rate:.0f} req/s",
            f"retries {self.retries}",
            f"429s {self.throttled}",
            f"ETA {eta}",
        ]
        return "  ".join(part for part in parts if part)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.stream is None:
            return
        self._show(force=True)
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False


def _terminal_width(stream: TextIO) -> int:
    """Columns of the terminal ``stream`` shows on (``COLUMNS`` wins, as for every tool)."""
    if not os.environ.get("COLUMNS"):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            pass  # not a terminal's stream: ask shutil (stdout's terminal, or 80)
    return shutil.get_terminal_size().columns
