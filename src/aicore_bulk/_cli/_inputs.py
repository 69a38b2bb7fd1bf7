"""Where the IDs come from: arguments, a file, or standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from aicore_bulk import InputError, is_valid_id

#: What a valid ID looks like, for messages: "not valid" alone does not say what to fix.
_ID_RULE: Final = "(4 to 64 letters, digits, '_', '.' or '-')"
#: IDs longer than this are cut in messages: a whole line of garbage helps nobody.
_SHOWN: Final = 80


def ids_from(arguments: Sequence[str], ids_file: str | None) -> Iterator[str]:
    """The IDs given as arguments, then those of the file (``-``: stdin), checked as read.

    A bad ID raises :class:`InputError` naming where it was: its argument position, or the
    file and line.
    """
    for position, item_id in enumerate(arguments, start=1):
        if not is_valid_id(item_id):
            raise InputError(f"argument {position}: {_invalid(item_id)}")
        yield item_id
    if ids_file is not None:
        yield from _read_file(ids_file)


def _read_file(path: str) -> Iterator[str]:
    name = "stdin" if path == "-" else path
    try:
        # Bytes, decoded line by line, so that text that is not UTF-8 is reported by line.
        # (A replaced sys.stdin, as in tests, may have no bytes underneath: it gives text.)
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
        stream = stdin if path == "-" else Path(path).open("rb")  # noqa: SIM115
    except OSError as error:
        raise InputError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        for number, raw in enumerate(stream, start=1):
            line = raw if isinstance(raw, str) else _decoded(raw, name, number)
            item_id = line.split("#", 1)[0].strip()
            if number == 1:
                # Editors on Windows start text files with a byte order mark.
                item_id = item_id.removeprefix("\ufeff")
            if not item_id:
                continue
            if not is_valid_id(item_id):
                raise InputError(f"{name}:{number}: {_invalid(item_id)}")
            yield item_id
    except OSError as error:
        raise InputError(f"cannot read {name}: {error.strerror or error}") from None
    finally:
        if path != "-":
            stream.close()


def _decoded(raw: bytes, name: str, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{name}:{number}: not UTF-8 text (binary, or saved in another encoding)"
        ) from None


def _invalid(item_id: str) -> str:
    """Why ``item_id`` is refused: quoted (cut when long), and what a valid ID looks like."""
    if len(item_id) > _SHOWN:
        item_id = item_id[: _SHOWN - 3] + "..."
    return f"{item_id!r} is not a valid AI Core ID {_ID_RULE}"
