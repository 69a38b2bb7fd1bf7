"""The files a run writes: checked before the first request, written so a failure is one line.

A run that cannot write its report should find out before it changes anything, not after
it has deleted everything (``--journal`` is checked the same way, by the library). What can
still go wrong at the end (the folder removed or made read-only meanwhile, a full disk) is
said in one line; the summary is printed all the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aicore_bulk import InputError

_PREFIX = ".aicore-bulk-"


def check_report_path(path: str | None) -> None:
    """Refuse a ``--report`` path the run could not write, before anything is sent.

    Raises:
        InputError: The path is a folder, or its folder is missing or not writable.
    """
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise InputError(f"--report {path} is a directory: name a file")
    folder = target.parent
    if not folder.is_dir():
        raise InputError(f"--report {path}: no directory {folder}")
    try:
        # Try what the end of the run will do: mode bits do not say it (root, ACLs, a
        # read-only file system).
        descriptor, probe = tempfile.mkstemp(dir=folder, prefix=_PREFIX)
        os.close(descriptor)
        Path(probe).unlink()
    except OSError as error:
        reason = error.strerror or "not writable"
        raise InputError(f"--report {path}: cannot write in {folder}: {reason}") from None


def write_report(path: str, data: dict[str, Any]) -> str | None:
    """Write the JSON atomically (a reader never sees half of it); why not, if it failed."""
    target = Path(path)
    temporary: Path | None = None
    try:
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=_PREFIX)
        temporary = Path(name)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
            file.write("\n")
        temporary.replace(target)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink()
        reason = error.strerror or str(error)
        return f"the report was not written to {path}: {reason}"
    return None
