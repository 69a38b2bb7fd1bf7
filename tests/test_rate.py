"""The pacer learns an untold limit from 429s, in virtual time, against a fake token bucket."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
import pytest

from aicore_bulk._memory import LearnedLimits
from aicore_bulk._rate import MIN_RATE, Pacer
from aicore_bulk.testing import VirtualClock


def run_virtual(main: Callable[[VirtualClock], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main(clock)`` on virtual time that starts at 0."""
    return asyncio.run(main(VirtualClock(start=0.0)))


@attrs.define
class Bucket:
    """A gateway's token bucket: ``limit`` per second, ``burst`` at once, else 429."""

    limit: float
    burst: int = 10
    tokens: float = attrs.field(init=False)
    at: float = 0.0

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> float | None:
        """None when the request passes, else its ``Retry-After`` (whole seconds)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.limit)
        self.at = now
        if self.tokens < 1.0:
            return float(max(1, math.ceil((1.0 - self.tokens) / self.limit)))
        self.tokens -= 1.0
        return None


@attrs.define
class Run:
    """What one simulated run did."""

    pacer: Pacer
    sent: list[float]
    throttled: int
    seconds: float
    rates: list[tuple[float, float | None]]

    @property
    def share_429(self) -> float:
        """The share of requests answered 429."""
        return self.throttled / len(self.sent)


def simulate(
    limit: float,
    requests: int,
    *,
    concurrency: int = 16,
    latency: float = 0.02,
    cap: float | None = None,
    adaptive: bool = True,
    new_limit: tuple[float, float] | None = None,
    burst: int = 10,
    remembered: LearnedLimits | None = None,
) -> Run:
    """``requests`` requests, ``concurrency`` at a time, against a bucket, as the caller sends."""

    async def main(virtual: VirtualClock) -> Run:
        clock = virtual.monotonic
        pacer = Pacer(virtual, cap, adaptive=adaptive)
        if remembered is not None:
            pacer.restore(remembered)
        bucket = Bucket(limit, burst)
        sent: list[float] = []
        rates: list[tuple[float, float | None]] = []
        throttled = 0
        limiter = asyncio.Semaphore(concurrency)
        left = list(range(requests))

        async def worker() -> None:
            nonlocal throttled
            while left:
                left.pop()
                while True:
                    async with limiter:
                        await pacer.wait_turn()
                        sent.append(clock())
                        await virtual.sleep(latency)
                        if new_limit is not None and clock() >= new_limit[0]:
                            bucket.limit = new_limit[1]
                        retry_after = bucket.take(clock())
                    if retry_after is None:
                        pacer.succeeded()
                        rates.append((clock(), pacer.effective_rate))
                        break
                    throttled += 1
                    pacer.throttled(retry_after)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Run(pacer, sent, throttled, clock(), rates)

    result: Run = run_virtual(main)
    return result


def sends_within(run: Run, start: float, length: float) -> int:
    return sum(1 for t in run.sent if start <= t < start + length)


def test_nothing_is_paced_before_the_first_429():
    """Until a 429 comes, requests go at once: the pacer never sleeps and has no rate."""

    async def main(clock: VirtualClock) -> Pacer:
        pacer = Pacer(clock)
        for _ in range(1_000):
            await pacer.wait_turn()
            pacer.succeeded()
        return pacer

    pacer = run_virtual(main)

    assert pacer.clock.slept == 0  # type: ignore[attr-defined]
    assert pacer.rate is None


def test_an_unthrottled_run_is_not_slowed():
    """Under a limit it never reaches, the run takes only its round trips."""
    run = simulate(limit=10_000, requests=1_600, burst=16)

    assert run.throttled == 0
    assert run.pacer.rate is None
    assert run.seconds == pytest.approx(1_600 / 16 * 0.02)


@pytest.mark.parametrize("limit", [5.0, 20.0, 100.0, 400.0])
def test_the_rate_settles_under_an_untold_limit(limit):
    """Against a token bucket, few requests draw a 429 and the rate ends near, under, the limit."""
    requests = max(600, int(limit * 60))  # the first, unpaced burst alone draws a dozen
    run = simulate(limit=limit, requests=requests)

    assert run.share_429 < 0.05
    # What it learned is near the limit, under it; the rate in force may be probing above.
    assert run.pacer.ceiling is not None
    assert 0.6 * limit <= run.pacer.ceiling <= 1.1 * limit
    final = run.pacer.effective_rate
    assert final is not None
    assert 0.6 * limit <= final <= 1.25 * limit
    # Within a quarter of the time the limit allows, slow start and pauses included.
    assert run.seconds <= 1.25 * requests / limit


@pytest.mark.parametrize("latency", [0.5, 1.0])
def test_a_long_round_trip_does_not_let_the_slow_start_run_away(latency):
    """With round trips of half a second and more, the slow start does not run away.

    It doubles no faster than a round trip, and a 429 is judged by the rate its request was
    sent at: growth while it travelled is not kept.
    """
    run = simulate(limit=20.0, requests=2_000, concurrency=64, latency=latency)

    assert run.share_429 < 0.08
    assert run.pacer.events <= 9
    assert run.seconds <= 1.25 * 2_000 / 20.0


def test_later_429s_are_few():
    """Once settled, the probes' 429 events cost under a tenth of the time in pauses."""
    run = simulate(limit=50.0, requests=3_000)

    assert run.pacer.events * 1.0 <= 0.1 * run.seconds
    # And between them it sends close to the limit.
    assert sends_within(run, 10.0, run.seconds - 10.0) / (run.seconds - 10.0) >= 0.8 * 50.0


def test_the_rate_probes_up_after_the_limit_is_raised():
    """When the gateway's limit doubles mid-run, the rate grows past the old limit."""
    run = simulate(limit=40.0, requests=6_000, new_limit=(20.0, 80.0))

    late = run.seconds - 10.0
    assert sends_within(run, late, 10.0) / 10.0 > 1.3 * 40.0
    assert run.share_429 < 0.05


def test_the_rate_drops_after_the_limit_is_lowered():
    """When the gateway's limit drops mid-run, the rate follows it down."""
    run = simulate(limit=80.0, requests=3_000, new_limit=(15.0, 20.0))

    final = run.pacer.effective_rate
    assert final is not None
    assert final <= 20.0 * 1.1
    late = run.seconds - 10.0
    assert sends_within(run, late, 10.0) / 10.0 <= 20.0 * 1.1


def test_a_cap_under_the_limit_spaces_requests_and_draws_no_429():
    """With a cap under the limit, requests are spaced by the cap and none is throttled."""
    run = simulate(limit=50.0, requests=300, cap=20.0)

    assert run.throttled == 0
    gaps = [b - a for a, b in zip(run.sent, run.sent[1:], strict=False)]
    assert min(gaps) >= 1 / 20.0 - 1e-9
    assert run.pacer.rate is None


def test_a_cap_over_the_limit_still_caps_the_adaptive_rate():
    """With a cap over the limit the pacer learns the limit, and never sends faster than the cap."""
    run = simulate(limit=50.0, requests=2_000, cap=60.0)

    assert run.pacer.rate is not None
    assert run.pacer.rate <= 60.0
    assert all(rate is None or rate <= 60.0 for _, rate in run.rates)
    assert max(sends_within(run, t, 1.0) for t in range(int(run.seconds))) <= 61


def test_static_pacing_only_pauses():
    """With adaptive=False the rate never changes: 429s only pause, at the cap's pace."""
    run = simulate(limit=20.0, requests=600, cap=60.0, adaptive=False)

    assert run.throttled > 30
    assert run.pacer.rate is None
    assert run.pacer.effective_rate == 60.0


def test_a_429_pauses_every_request_for_its_retry_after():
    """After a 429 with Retry-After 2, no request goes for two seconds."""

    async def main(virtual: VirtualClock) -> list[float]:
        clock = virtual.monotonic
        pacer = Pacer(virtual)
        await pacer.wait_turn()
        pacer.throttled(2.0)
        went: list[float] = []

        async def one() -> None:
            await pacer.wait_turn()
            went.append(clock())

        await asyncio.gather(*(one() for _ in range(5)))
        return went

    went = run_virtual(main)

    assert min(went) >= 2.0
    assert went == sorted(went)


def test_the_429s_of_one_burst_are_learned_from_once():
    """The 429s of requests sent before the first one came back are the same event."""

    async def main(clock: VirtualClock) -> Pacer:
        pacer = Pacer(clock)

        async def one(index: int) -> None:
            await pacer.wait_turn()
            await clock.sleep(0.02 + index * 0.001)
            if index < 10:
                pacer.succeeded()
            else:
                pacer.throttled(1.0)

        await asyncio.gather(*(one(index) for index in range(16)))
        return pacer

    pacer = run_virtual(main)

    assert pacer.events == 1
    assert pacer.burst == 10.0
    assert pacer.rate == 10.0


def test_a_gateway_that_refuses_everything_backs_the_rate_off_to_its_floor():
    """When every request draws a 429, the rate drops step by step, never below the floor."""
    run_limit = 0.001  # effectively nothing gets through
    run = simulate(limit=run_limit, requests=40, concurrency=4)

    assert run.pacer.effective_rate == pytest.approx(MIN_RATE)


def test_nothing_is_learned_without_an_estimate():
    """An unthrottled pacer, or one after a single 429 event, has no limit to hand on."""

    async def main(clock: VirtualClock) -> Pacer:
        pacer = Pacer(clock)
        await pacer.wait_turn()
        pacer.throttled(1.0)
        return pacer

    assert simulate(limit=10_000, requests=100).pacer.learned() is None
    once = run_virtual(main)
    assert once.events == 1
    assert once.learned() is None


def test_what_was_learned_is_handed_on():
    """After a throttled run the pacer hands on its estimate, burst, rate and when it learned."""
    run = simulate(limit=20.0, requests=1_200)

    learned = run.pacer.learned()

    assert learned is not None
    assert (learned.ceiling, learned.burst, learned.rate) == (
        run.pacer.ceiling,
        run.pacer.burst,
        run.pacer.rate,
    )
    assert 0 < learned.learned_at <= run.seconds
    assert learned.window is None


def test_a_restored_pacer_starts_under_the_remembered_limit():
    """Restored, the pacer paces at once, at a share of the remembered ceiling under it."""

    async def main(clock: VirtualClock) -> Pacer:
        pacer = Pacer(clock)
        pacer.restore(LearnedLimits(ceiling=20.0, burst=5.0, rate=22.0, learned_at=0.0))
        return pacer

    pacer = run_virtual(main)

    assert pacer.ceiling == 20.0
    assert pacer.burst == 5.0
    assert pacer.effective_rate == pytest.approx(0.8 * 20.0)


def test_a_restored_run_draws_far_fewer_429s_than_the_first():
    """Against the same limit, a run restored from the first one's record draws few 429s."""
    first = simulate(limit=20.0, requests=1_200, burst=5)
    remembered = first.pacer.learned()
    assert remembered is not None

    second = simulate(limit=20.0, requests=1_200, burst=5, remembered=remembered)

    assert first.throttled >= 5
    assert second.throttled * 5 <= first.throttled
    assert second.share_429 < 0.02
    assert second.seconds <= first.seconds


def test_a_restored_pacer_still_finds_a_raised_limit():
    """Restored with a limit that has since doubled, the rate probes past the old limit."""
    old = LearnedLimits(ceiling=40.0, burst=10.0, rate=40.0, learned_at=0.0)

    run = simulate(limit=80.0, requests=6_000, remembered=old)

    late = run.seconds - 10.0
    assert sends_within(run, late, 10.0) / 10.0 > 1.3 * 40.0


def test_the_curve_of_a_restored_pacer_starts_with_its_first_request():
    """Time that passes before the first request does not count as time climbing the curve."""

    async def main(clock: VirtualClock) -> Pacer:
        pacer = Pacer(clock)
        pacer.restore(LearnedLimits(ceiling=20.0, burst=5.0, rate=20.0, learned_at=0.0))
        await clock.sleep(600.0)  # the run reads, or a person confirms, for ten minutes
        for _ in range(5):
            await pacer.wait_turn()
            pacer.succeeded()
        return pacer

    pacer = run_virtual(main)

    assert pacer.effective_rate is not None
    assert pacer.effective_rate < 20.0


def test_a_restored_run_that_draws_no_429_keeps_the_old_date():
    """A run that learns nothing new hands on the old learning time, so that the record ages."""
    old = LearnedLimits(ceiling=20.0, burst=5.0, rate=20.0, learned_at=0.0)

    run = simulate(limit=10_000.0, requests=200, remembered=old)

    learned = run.pacer.learned()
    assert run.throttled == 0
    assert learned is not None
    assert learned.learned_at == 0.0


def test_a_fixed_rate_ignores_what_was_remembered():
    """With adaptive=False a remembered record changes nothing, and nothing is learned."""
    old = LearnedLimits(ceiling=20.0, burst=5.0, rate=20.0, learned_at=0.0)

    run = simulate(limit=10_000.0, requests=200, adaptive=False, remembered=old)

    assert run.pacer.rate is None
    assert run.pacer.ceiling is None
    assert run.pacer.learned() is None
