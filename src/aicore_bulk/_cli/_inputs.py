"""Where the IDs come from: arguments, a file, or standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from aicore_bulk._errors import InputError
from aicore_bulk._models import ID_PATTERN


def ids_from(arguments: Sequence[str], ids_file: str | None) -> Iterator[str]:
    """The IDs given as arguments, then those of the file (``-``: stdin), checked as read.

    A bad ID raises :class:`InputError` naming where it was: its argument position, or the
    file and line.
    """
    for position, item_id in enumerate(arguments, start=1):
        if not ID_PATTERN.fullmatch(item_id):
            raise InputError(f"argument {position}: {item_id!r} is not a valid AI Core ID")
        yield item_id
    if ids_file is not None:
        yield from _read_file(ids_file)


def _read_file(path: str) -> Iterator[str]:
    name = "stdin" if path == "-" else path
    try:
        stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        raise InputError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        for number, line in enumerate(stream, start=1):
            item_id = line.split("#", 1)[0].strip()
            if not item_id:
                continue
            if not ID_PATTERN.fullmatch(item_id):
                shown = item_id if len(item_id) <= 80 else item_id[:77] + "..."  # noqa: PLR2004
                raise InputError(f"{name}:{number}: {shown!r} is not a valid AI Core ID")
            yield item_id
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text") from None
    except OSError as error:
        raise InputError(f"cannot read {name}: {error.strerror or error}") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
