"""Logs through the standard :mod:`logging` module, where applications look for them.

Every record goes to the logger ``aicore_bulk`` or one of its children:

* ``aicore_bulk.run``: INFO per phase (run started, statuses read, plan ready, dispatch done)
  and at the end (items per outcome); one WARNING per run summing up the items that did
  not reach their goal (counts and the first few IDs, never one record per item);
* ``aicore_bulk.request``: DEBUG per request (method, operation, how many items it stops
  and deletes, status, seconds); a WARNING per throttling episode (the 429s of requests
  sent before one pause are one episode);
* ``aicore_bulk.auth``: a WARNING per failed try of the token endpoint.

The library adds a :class:`logging.NullHandler` to ``aicore_bulk`` and nothing else: no
handler, no level, no format. Which records go where is the application's choice.

Each record of a run carries the run's ID as the attribute ``run_id`` (given through
``extra``; the same ID as ``report.run.id``), plus the fields its message is made of, so a
JSON formatter can keep them apart. No record holds a token, a secret or a header.

The run's ID travels in a context variable: tasks of the run inherit it, and so does the
token fetch (the ``Auth`` protocol knows nothing of runs).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Final

#: The library's logger; children are named after what they log.
LOGGER_NAME: Final = "aicore_bulk"

# A library never decides where its records go: this only keeps Python from printing them
# through its last-resort handler when the application configured nothing.
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

#: The ID of the run the current task works for (None outside a run).
RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "aicore_bulk_run_id", default=None
)


def get_logger(child: str) -> logging.Logger:
    """The logger ``aicore_bulk.<child>``."""
    return logging.getLogger(f"{LOGGER_NAME}.{child}")


def log(
    logger: logging.Logger,
    level: int,
    message: str,
    *args: object,
    **fields: object,
) -> None:
    """Log ``message % args`` with the run's ID and ``fields`` as attributes of the record.

    Cheap when the level is off: nothing is formatted and no record is made.
    """
    if logger.isEnabledFor(level):
        logger.log(level, message, *args, extra={"run_id": RUN_ID.get(), **fields}, stacklevel=2)


@contextlib.contextmanager
def run_id_set(run_id: str) -> Iterator[None]:
    """Tag the records of the block (and of the tasks it starts) with ``run_id``."""
    token = RUN_ID.set(run_id)
    try:
        yield
    finally:
        RUN_ID.reset(token)


def plural(n: int, noun: str) -> str:
    """``1 item``, ``2 items``, ``1,000 items``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
