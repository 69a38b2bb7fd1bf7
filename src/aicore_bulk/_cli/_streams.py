"""Writing to stdout and stderr when the reader may go away (``aicore-bulk ... | head -1``).

A closed pipe is not an error of the run: like other Unix tools, the command stops writing
to that stream and goes on quietly. The run is never cut short by it, because a run cut
short halfway is worse than one nobody watches: it finishes, writes ``--report`` if asked,
and exits with its own code.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import TextIO


def say(text: str, stream: TextIO, *, end: str = "\n") -> None:
    """Write ``text`` and flush; a reader that went away silences ``stream`` instead."""
    try:
        stream.write(text + end)
        stream.flush()
    except BrokenPipeError:
        silence(stream)


def silence(stream: TextIO) -> None:
    """Send whatever is still written to ``stream`` to the null device.

    Its descriptor now points there, so that later writes (and Python's own flush at exit,
    which would otherwise print ``BrokenPipeError`` on the way out) succeed quietly. What
    was buffered for the closed pipe is dropped with it.
    """
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        descriptor = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, descriptor)
        finally:
            os.close(null)
