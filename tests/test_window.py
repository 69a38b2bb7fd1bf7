"""The concurrency window: grows while round trips stay flat, shrinks on queueing and 429s."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aicore_bulk._window import INITIAL, Window
from aicore_bulk.testing import VirtualClock


def full_round(window: Window, clock: VirtualClock, rtt: float, *, op: str = "bulk") -> None:
    """Send a full window at once and answer every request ``rtt`` seconds later."""
    tickets = [window.sent(op) for _ in range(window.size)]
    clock.advance(rtt)
    for ticket in tickets:
        window.answered(ticket)


def served(window: Window, clock: VirtualClock, *, capacity: int, latency: float, rounds: int):
    """Keep the window full against a server of ``capacity`` workers (FIFO); sizes seen.

    Every ``latency`` seconds the server finishes the ``capacity`` oldest requests and the
    client refills its window; each answer's round trip includes its wait in the queue.
    """
    queue: list = []
    sizes = []
    for _ in range(rounds):
        while window.in_flight < window.size:
            queue.append(window.sent("bulk"))
        clock.advance(latency)
        done, queue[:] = queue[:capacity], queue[capacity:]
        for ticket in done:
            window.answered(ticket)
        sizes.append(window.size)
    return sizes


def test_a_window_starts_at_16_or_the_cap_if_lower():
    """Without a remembered size the window starts at 16, never above the cap."""
    clock = VirtualClock()

    assert Window(clock, 64).size == INITIAL == 16
    assert Window(clock, 8).size == 8
    assert Window(clock, 64, initial=5).size == 5
    assert Window(clock, 64, initial=500).size == 64
    assert Window(clock, 64, initial=0).size == 1


def test_flat_round_trips_grow_the_window_to_the_cap_and_no_further():
    """While every answer comes back as fast as the first, the window doubles up to the cap."""
    clock = VirtualClock()
    window = Window(clock, 64)

    sizes = []
    for _ in range(6):
        full_round(window, clock, 0.1)
        sizes.append(window.size)

    assert sizes[:3] == [32, 64, 64]
    assert window.peak == 64
    assert window.size == 64


def test_an_unused_window_does_not_grow():
    """Answers to requests sent one at a time say nothing about a larger window."""
    clock = VirtualClock()
    window = Window(clock, 64)

    for _ in range(50):
        ticket = window.sent("list")
        clock.advance(0.1)
        window.answered(ticket)

    assert window.size == 16


def test_rising_round_trips_shrink_the_window():
    """Answers that take twice their unloaded round trip shrink the window."""
    clock = VirtualClock()
    window = Window(clock, 64)
    full_round(window, clock, 0.1)
    grown = window.size

    full_round(window, clock, 0.25)

    assert window.size < grown
    assert window.shrinks == 1


def test_each_operation_is_compared_with_its_own_round_trip():
    """A slow list page next to fast changes is not queueing: the window keeps growing."""
    clock = VirtualClock()
    window = Window(clock, 64)

    full_round(window, clock, 0.1, op="bulk")
    full_round(window, clock, 2.0, op="list")

    assert window.size == 64
    assert window.shrinks == 0


def test_a_millisecond_of_noise_on_loopback_is_not_queueing():
    """Round trips of 1 ms that vary by up to 20 ms stay under the slack: the window grows."""
    clock = VirtualClock()
    window = Window(clock, 64)

    for rtt in (0.001, 0.015, 0.002, 0.02):
        full_round(window, clock, rtt)

    assert window.size == 64
    assert window.shrinks == 0


def test_a_429_halves_the_window_once_per_round_trip():
    """The 429s of one window count as one: the window halves once, not once per 429."""
    clock = VirtualClock()
    window = Window(clock, 64)
    tickets = [window.sent("bulk") for _ in range(16)]
    clock.advance(0.1)

    for ticket in tickets:
        window.answered(ticket, throttled=True)

    assert window.size == 8
    assert window.shrinks == 1


def test_requests_sent_after_a_429_can_halve_it_again():
    """A 429 to a request sent after the last shrink shrinks the window again."""
    clock = VirtualClock()
    window = Window(clock, 64)
    window.answered(window.sent("bulk"), throttled=True)
    clock.advance(0.1)

    window.answered(window.sent("bulk"), throttled=True)

    assert window.size == 4


def test_the_window_settles_near_a_servers_capacity():
    """Against a server of 4 workers, the window ends near 4 after starting at 16."""
    clock = VirtualClock()
    window = Window(clock, 64)

    sizes = served(window, clock, capacity=4, latency=0.1, rounds=100)

    settled = sizes[20:]
    assert set(settled) <= {4, 5}
    assert settled.count(4) > 0.75 * len(settled)  # probing beyond it is rare
    assert window.peak <= 20


def test_with_unlimited_capacity_the_window_reaches_the_cap():
    """A server that serves everything at once lets the window grow to the cap."""
    clock = VirtualClock()
    window = Window(clock, 64)

    sizes = served(window, clock, capacity=1000, latency=0.1, rounds=10)

    assert sizes[-1] == 64


def test_a_fixed_window_stays_at_the_cap_whatever_happens():
    """With adaptive=False the window is the cap, as the fixed concurrency was."""
    clock = VirtualClock()
    window = Window(clock, 16, adaptive=False, initial=4)

    full_round(window, clock, 0.1)
    full_round(window, clock, 5.0)
    window.answered(window.sent("bulk"), throttled=True)

    assert window.size == window.peak == 16
    assert window.shrinks == 0


def test_lost_requests_leave_the_window_as_it_was():
    """A request without an answer is no longer in flight and teaches nothing."""
    clock = VirtualClock()
    window = Window(clock, 64)
    ticket = window.sent("bulk")
    clock.advance(30.0)

    window.lost(ticket)

    assert window.in_flight == 0
    assert window.size == 16


@given(
    cap=st.integers(1, 256),
    events=st.lists(st.tuples(st.integers(1, 40), st.floats(0.0, 3.0), st.booleans()), max_size=40),
)
def test_the_window_stays_between_1_and_the_cap(cap, events):
    """Whatever the round trips and 429s, the window is at least 1 and at most the cap."""
    clock = VirtualClock()
    window = Window(clock, cap)
    for count, rtt, throttled in events:
        tickets = [window.sent("bulk") for _ in range(count)]
        clock.advance(rtt)
        for ticket in tickets:
            window.answered(ticket, throttled=throttled)
            assert 1 <= window.size <= cap
    assert window.peak <= cap


@pytest.mark.parametrize("cap", [1, 2])
def test_a_window_of_one_never_shrinks_below_one(cap):
    """At the floor, queueing and 429s leave the window at 1."""
    clock = VirtualClock()
    window = Window(clock, cap, initial=1)

    for _ in range(5):
        full_round(window, clock, 0.1)
        window.answered(window.sent("bulk"), throttled=True)
        clock.advance(1.0)

    assert window.size == 1
