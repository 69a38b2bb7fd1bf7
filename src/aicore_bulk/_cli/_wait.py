"""``--wait``: look until the deleted items are no longer listed, and show how many are left."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final, TextIO

import anyio

from aicore_bulk import BulkClient, Kind
from aicore_bulk._cli._streams import say

#: Without a terminal, a line at most this often (and the first and the last).
_LINE_EVERY: Final = 5.0


async def wait_gone(
    client: BulkClient,
    kind: Kind,
    ids: Iterable[str],
    *,
    within: float,
    poll_interval: float,
    stream: TextIO | None,
    interrupt: anyio.Event,
) -> set[str]:
    """The IDs still listed when ``within`` seconds ran out (or when ``interrupt`` was set).

    One look per ``poll_interval``; each look's count is shown on ``stream``: redrawn in
    place on a terminal, a line every few seconds otherwise.
    """
    left = set(ids)
    total = len(left)
    if not total:
        return left
    show = _Display(stream, kind=kind, total=total, within=within)
    started = time.monotonic()
    async with anyio.create_task_group() as group:

        async def on_interrupt() -> None:
            await interrupt.wait()
            group.cancel_scope.cancel()

        group.start_soon(on_interrupt)
        while True:
            left = await client.wait_gone(kind, left, within=0)  # one look
            waited = time.monotonic() - started
            show(len(left), waited)
            if not left or waited >= within:
                break
            await anyio.sleep(min(poll_interval, within - waited))
        group.cancel_scope.cancel()
    show.close(len(left), time.monotonic() - started, interrupted=interrupt.is_set())
    return left


class _Display:
    """``--wait: 300 of 1,000 deleted executions still listed after 12 s (at most 300 s)``."""

    def __init__(self, stream: TextIO | None, *, kind: str, total: int, within: float) -> None:
        self.stream = stream
        self.bar = bool(stream and stream.isatty())
        self.kind, self.total, self.within = kind, total, within
        self.drawn: float | None = None
        self.last = ""

    def __call__(self, left: int, waited: float) -> None:
        if self.stream is None:
            return
        if not self.bar and self.drawn is not None and waited - self.drawn < _LINE_EVERY:
            return
        self.drawn = waited
        self._write(self._line(left, waited))

    def close(self, left: int, waited: float, *, interrupted: bool) -> None:
        if self.stream is None:
            return
        line = self._line(left, waited)
        if interrupted:
            line += "; interrupted: no longer waiting"
        if self.bar or line != self.last:
            self._write(line)
        if self.bar:
            say("", self.stream)

    def _line(self, left: int, waited: float) -> str:
        after = f"after {waited:.0f} s"
        if not left:
            every = (
                f"the deleted {self.kind[:-1]} is"
                if self.total == 1
                else (f"all {self.total:,} deleted {self.kind} are")
            )
            return f"--wait: {every} no longer listed ({after})"
        kind = self.kind[:-1] if self.total == 1 else self.kind
        return (
            f"--wait: {left:,} of {self.total:,} deleted {kind} still listed {after} "
            f"(at most {self.within:g} s)"
        )

    def _write(self, line: str) -> None:
        if self.stream is None:  # pragma: no cover - callers check
            return
        self.last = line
        if self.bar:
            say("\r" + line + "\x1b[K", self.stream, end="")
        else:
            say(line, self.stream)
