"""argparse types: each turns a string into a value or raises ``ArgumentTypeError``."""

from __future__ import annotations

import argparse
import math
import re
from typing import TYPE_CHECKING, Final, get_args

from aicore_bulk import Kind, Status

if TYPE_CHECKING:
    from aicore_bulk.testing import ResourceGroup

#: The kinds and statuses, as the command line spells them.
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
STATUSES: Final = tuple(status.value for status in Status)

_DURATION: Final = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[smhdw])", re.ASCII)
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count >= 0")
    return value


def positive(text: str) -> int:
    """A whole number >= 1."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def port(text: str) -> int:
    """A TCP port, 0 for any free one."""
    value = count(text)
    if value > 65535:  # noqa: PLR2004
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return value


def resource_group(text: str) -> ResourceGroup:
    """``ID`` or ``ID:KEY=VALUE,...``: a simulated resource group and its labels."""
    # Only ``simulate`` takes this: the simulator is imported when it is asked for.
    from aicore_bulk.testing import ResourceGroup  # noqa: PLC0415

    group_id, sep, rest = text.partition(":")
    labels: dict[str, str] = {}
    for part in rest.split(",") if sep else ():
        key, has_value, value = part.partition("=")
        if not has_value or not key:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {part!r} is not a label KEY=VALUE (write ID:KEY=VALUE,KEY=VALUE)"
            )
        if key in labels:
            raise argparse.ArgumentTypeError(f"{text!r}: label {key} is given twice")
        labels[key] = value
    try:
        return ResourceGroup(group_id, labels)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def _number(text: str, what: str) -> float:
    """A finite float: ``inf`` would overflow timers deep inside aiohttp and asyncio."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}: it must be finite")
    return value


def seconds(text: str) -> float:
    """A number of seconds >= 0."""
    value = _number(text, "a number of seconds")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def rate(text: str) -> float:
    """A number > 0: requests per second, or seconds that may not be zero (a timeout).

    The message names neither: argparse prefixes the flag, which says what the number means.
    """
    value = _number(text, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number > 0")
    return value


def fraction(text: str) -> float:
    """A probability between 0 and 1."""
    value = _number(text, "a probability between 0 and 1")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability between 0 and 1")
    return value


def duration(text: str) -> float:
    """``30s``, ``15m``, ``12h``, ``7d``, ``2w`` or combinations (``1d12h``), in seconds."""
    compact = text.strip().lower()
    parts = list(_DURATION.finditer(compact))
    total = sum(float(p.group("number")) * _UNIT_SECONDS[p.group("unit")] for p in parts)
    matched = "".join(p.group(0) for p in parts).replace(" ", "")
    # A 400-digit number is a float of infinity: as useless as no number at all.
    if not parts or matched != compact.replace(" ", "") or not math.isfinite(total):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number and a unit, e.g. 7d, 12h, 30m, 1d12h"
        )
    return total


def status_mix(text: str) -> dict[str, float]:
    """``COMPLETED=0.8,RUNNING=0.2``: status weights for seeding."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        status, sep, weight = part.partition("=")
        status = status.strip().upper()
        if not sep or status not in STATUSES:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not STATUS=WEIGHT with a status of {', '.join(STATUSES)}"
            )
        mix[status] = _number(weight, f"a weight >= 0 for {status}")
        if mix[status] < 0:
            raise argparse.ArgumentTypeError(f"{weight!r} is not a weight >= 0 for {status}")
    return mix
