"""Where the command line's log records go: stderr, as text or as one JSON object per line.

The library only ever adds a ``NullHandler``; the command line is an application, so it
sets the level (``-q`` errors, by default warnings, ``-v`` phases, ``-vv`` every request)
and the handler. A record never shares a line with the progress bar: the bar's line is
wiped before the record is written, and the bar is drawn again below it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Final, Protocol, TextIO

#: The library's logger (and the parent of its children).
LOGGER: Final = "aicore_bulk"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: What every record has; anything else on a record came through ``extra``.
_STANDARD: Final = frozenset(
    {*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime"}
)


class Bar(Protocol):
    """A line drawn in place at the bottom of the terminal (the progress bar)."""

    def clear(self) -> None:
        """Wipe the line, leaving the cursor at its start."""
        ...

    def redraw(self) -> None:
        """Draw the line again."""
        ...


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, run_id, then the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
        }
        data.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and key not in data
        )
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        # default=str: an extra a JSON encoder does not know still shows, as text.
        return json.dumps(data, default=str)


class Console(logging.Handler):
    """Writes records to a stream, one per line, never across the progress bar."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        #: The progress bar on the same terminal, if one is drawn.
        self.bar: Bar | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Wipe the bar, write the record on a line of its own, draw the bar again."""
        try:
            text = self.format(record)
            bar = self.bar
            if bar is not None:
                bar.clear()
            self.stream.write(text + "\n")
            if bar is not None:
                bar.redraw()
            self.stream.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def configure(*, verbose: int, quiet: bool, json_lines: bool, stream: TextIO) -> Console:
    """Send the library's records at the chosen level to ``stream``; returns the handler."""
    handler = Console(stream)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    if quiet:
        logger.setLevel(logging.ERROR)
    elif verbose:
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    else:
        logger.setLevel(logging.WARNING)
    return handler


def show_above(bar: Bar) -> None:
    """Log records go above ``bar`` (it is drawn on the same stream as they are)."""
    for handler in logging.getLogger(LOGGER).handlers:
        if isinstance(handler, Console):
            handler.bar = bar
