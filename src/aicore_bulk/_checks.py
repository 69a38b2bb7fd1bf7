"""Checks of the numbers users give, so a bad one is a clear :class:`InputError` up front.

``inf`` and ``nan`` are refused everywhere: they would overflow timers deep inside asyncio, or
make every comparison false. A bool is not a number here, and a whole number must be an int.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aicore_bulk._errors import InputError


def check_number(
    name: str,
    value: object,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    whole: bool = False,
) -> None:
    """Raise :class:`InputError` naming ``name`` unless ``value`` is in range."""
    kinds = (int,) if whole else (int, float)
    wanted = "a whole number" if whole else "a finite number"
    if at_least is not None and at_most is not None:
        wanted += f" between {at_least:g} and {at_most:g}"
    elif at_least is not None:
        wanted += f" >= {at_least:g}"
    elif above is not None:
        wanted += f" > {above:g}"
    fine = (
        isinstance(value, kinds)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (above is None or value > above)
        and (at_least is None or value >= at_least)
        and (at_most is None or value <= at_most)
    )
    if not fine:
        raise InputError(f"{name} must be {wanted}, got {value!r}")


def number(
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    whole: bool = False,
    optional: bool = False,
) -> Callable[[Any, Any, Any], None]:
    """An attrs validator running :func:`check_number` (``None`` passes when ``optional``)."""

    def validate(_: object, attribute: object, value: object) -> None:
        if optional and value is None:
            return
        name = getattr(attribute, "name", "value")
        check_number(name, value, above=above, at_least=at_least, at_most=at_most, whole=whole)

    return validate
