"""Exit codes, and the one-line error every failure prints."""

from __future__ import annotations

import sys
from typing import Final

from aicore_bulk._cli._streams import say
from aicore_bulk._cli._words import cli_words

EXIT_OK: Final = 0
EXIT_ITEMS: Final = 1
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
EXIT_INTERRUPTED: Final = 130


def fail(message: str, code: int) -> int:
    """Print ``aicore-bulk: error: <message>`` on one line to stderr; return ``code``.

    Every error the command line prints passes here, so the library's Python names in it
    become flags (see :mod:`aicore_bulk._cli._words`).
    """
    one_line = " ".join(cli_words(message).split())
    say(f"aicore-bulk: error: {one_line}", sys.stderr)
    return code
