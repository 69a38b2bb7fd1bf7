"""The confirmation prompt, which a signal ends at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading

import anyio
import attrs

from aicore_bulk._cli._streams import say


@attrs.define(eq=False)
class Signals:
    """What SIGINT and SIGTERM do now: the first sets ``event``; a second cancels the run."""

    event: anyio.Event
    #: The code waiting on ``event`` says what it means (a prompt, ``--wait``): the signal
    #: handler prints nothing.
    quiet: bool = False


async def ask(question: str, signals: Signals) -> str | None:
    """Ask on stderr and read one line from stdin (a terminal); None when a signal came first.

    The line is read as the event loop sees it arrive, not by a thread blocked in
    ``readline()``: such a thread cannot be stopped, and the process could not end before
    someone pressed Enter.
    """
    signals.quiet = True
    answer: list[str] = []
    try:
        say(question, sys.stderr, end="")
        async with anyio.create_task_group() as group:

            async def read() -> None:
                answer.append(await _read_line())
                group.cancel_scope.cancel()

            async def interrupted() -> None:
                await signals.event.wait()
                group.cancel_scope.cancel()

            group.start_soon(read)
            group.start_soon(interrupted)
    finally:
        signals.quiet = False
    if signals.event.is_set():
        say("", sys.stderr)  # end the prompt's line
        return None
    return answer[0] if answer else ""


async def _read_line() -> str:
    """One line from stdin; empty at its end (Ctrl-D) or when it cannot be read."""
    loop = asyncio.get_running_loop()
    descriptor = sys.stdin.fileno()
    line: asyncio.Future[str] = loop.create_future()

    def read() -> str:
        try:
            return os.read(descriptor, 4096).decode(errors="replace")
        except OSError:
            return ""

    def answer(text: str) -> None:
        if not line.done():
            line.set_result(text)

    try:
        loop.add_reader(descriptor, lambda: answer(read()))
    except (OSError, ValueError, NotImplementedError):  # pragma: no cover - no POSIX loop
        # A loop that cannot watch a terminal (Windows; kqueue on some systems): a thread
        # that nothing waits for at exit, reading without Python's buffer lock.
        def in_thread() -> None:
            text = read()
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody asks any more
                loop.call_soon_threadsafe(answer, text)

        threading.Thread(target=in_thread, daemon=True).start()
        return await line
    try:
        return await line
    finally:
        loop.remove_reader(descriptor)
