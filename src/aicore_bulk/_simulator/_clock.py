"""A clock that moves only when told to, for tests that must not wait in real time."""

from __future__ import annotations

import attrs

#: 2026-01-01T00:00:00Z: a fixed start makes timestamps in answers reproducible.
DEFAULT_START = 1_767_225_600.0


@attrs.define
class ManualClock:
    """Seconds since the epoch, advanced by hand: ``clock.advance(5)``."""

    now: float = DEFAULT_START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward; time never runs backwards."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self.now += seconds
