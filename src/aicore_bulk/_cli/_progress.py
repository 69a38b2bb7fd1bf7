"""What a person (or a log) sees while a run goes: a bar on a terminal, lines elsewhere."""

from __future__ import annotations

import json
import logging
import time
from typing import Final, TextIO

import attrs

from aicore_bulk import (
    Event,
    ItemSettled,
    PhaseDone,
    PlanReady,
    RequestAnswered,
    RequestSent,
)

_logger = logging.getLogger("aicore_bulk")
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

    def __call__(self, event: Event) -> None:
        """Take one event."""
        if isinstance(event, PlanReady):
            self.total = event.total
            paths = {route.value: n for route, n in event.paths.items() if n}
            _logger.info("plan: %s, %d change requests at least", paths, event.requests)
        elif isinstance(event, ItemSettled):
            self.settled += 1
            if self.items_out is not None:
                self.items_out.write(json.dumps(event.result.to_json()) + "\n")
                self.items_out.flush()
        elif isinstance(event, RequestSent):
            self.requests += 1
            self.retries += event.attempt > 1
            _logger.debug("-> %s (%d items, try %d)", event.operation, event.items, event.attempt)
        elif isinstance(event, RequestAnswered):
            self.throttled += event.status == 429  # noqa: PLR2004
            _logger.debug("<- %s %s in %.3f s", event.operation, event.status, event.seconds)
        elif isinstance(event, PhaseDone):
            _logger.info("%s done", event.phase)
        self._show()

    def _show(self, *, force: bool = False) -> None:
        if self.stream is None or not self.total:
            return
        now = time.monotonic()
        if not force and now - self._drawn < (_BAR_EVERY if self.bar else _LINE_EVERY):
            return
        self._drawn = now
        if self.bar:
            self.stream.write("\r" + self.line(now) + "\x1b[K")
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
