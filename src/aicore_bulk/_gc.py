"""Pausing Python's cyclic garbage collector around loops that build a million objects.

Each item's state, result and change, and each parsed entry of a list page, are plain
objects without cycles: reference counting frees them. The cyclic collector cannot free any
of them, yet while they are being built it runs again and again and scans them all, which
doubles the time of the loops (measured on 1,000,000 items). It is paused only for such
synchronous loops (nothing else runs meanwhile on the event loop) and restored as it was.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block, if it was running."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
