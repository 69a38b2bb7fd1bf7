"""When to retry, and how long to wait: exponential backoff with added jitter, and Retry-After.

The parameters mean what stamina's do: the n-th wait is
``min(wait_max, wait_initial * 2 ** (n - 1) + uniform(0, wait_jitter))``.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Iterator, Mapping

import attrs
import backoff

from aicore_bulk._checks import number

#: Statuses worth another try: throttling and a gateway's or server's bad moment.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The longest wait before trying again to connect to a host that has not answered yet.
#: Nothing was sent, so another try is safe; but a name that does not resolve or a port that
#: refuses is almost always a setting, and should be reported in seconds, not after the
#: full backoff.
CONNECT_WAIT = 0.5


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to try (names and meanings follow stamina).

    Attributes:
        attempts: Tries per request, the first included.
        request_timeout: Seconds one request may take.
        wait_initial: The first backoff, in seconds; it doubles each try.
        wait_max: The longest backoff, and the longest ``Retry-After`` honoured.
        wait_jitter: At most this many seconds, drawn at random, are added to each backoff
            (so that throttled requests do not all come back at once).
        budget: Retries allowed in the whole run; None means 20 plus 2 per 50 items.
            When it runs out, requests fail instead of being sent again.

    """

    attempts: int = attrs.field(default=6, validator=number(at_least=1, whole=True))
    request_timeout: float = attrs.field(default=30.0, validator=number(above=0))
    wait_initial: float = attrs.field(default=0.5, validator=number(at_least=0))
    wait_max: float = attrs.field(default=30.0, validator=number(at_least=0))
    wait_jitter: float = attrs.field(default=1.0, validator=number(at_least=0))
    budget: int | None = attrs.field(
        default=None, validator=number(at_least=0, whole=True, optional=True)
    )


def backoff_waits(policy: RetryPolicy) -> Iterator[float]:
    """Seconds to wait before each retry: exponential, jittered, capped at ``wait_max``."""
    waits = backoff.expo(base=2, factor=policy.wait_initial, max_value=policy.wait_max)
    next(waits)  # backoff's generators start by yielding None (prime the generator)
    for wait in waits:
        jitter = random.uniform(0, policy.wait_jitter)  # noqa: S311 - spreading, not secrecy
        yield min(policy.wait_max, wait + jitter)


def retry_after(headers: Mapping[str, str], *, now: Callable[[], float]) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date), if any."""
    raw = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@attrs.define
class RetryBudget:
    """Retries left in the run; shared by every request."""

    left: int

    def take(self) -> bool:
        """Use one retry; False when none are left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True
