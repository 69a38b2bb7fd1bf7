"""pytest fixtures for the simulator.

Enable them with ``pytest_plugins = ["aicore_bulk.testing.pytest_plugin"]`` in ``conftest.py``.

Needs pytest-asyncio. ``aicore_clock`` is a :class:`~aicore_bulk.testing.VirtualClock`;
``aicore_simulator`` is a fresh :class:`~aicore_bulk.testing.Simulator` on that clock;
``aicore_server`` serves it on a free loopback port for the test's duration.
Override ``aicore_simulator_config`` to change knobs for a module or a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aicore_bulk._simulator._core import Simulator, SimulatorConfig
from aicore_bulk._simulator._server import RunningSimulator, serve
from aicore_bulk.testing._clock import VirtualClock


@pytest.fixture
def aicore_clock() -> VirtualClock:
    """Virtual time for the simulator (and your client): sleeps take no real time."""
    return VirtualClock()


@pytest.fixture
def aicore_simulator_config() -> SimulatorConfig:
    """The simulator's knobs; override this fixture to change them."""
    return SimulatorConfig()


@pytest.fixture
def aicore_simulator(
    aicore_simulator_config: SimulatorConfig, aicore_clock: VirtualClock
) -> Simulator:
    """A fresh, empty simulator on the virtual clock."""
    return Simulator(aicore_simulator_config, clock=aicore_clock)


@pytest_asyncio.fixture
async def aicore_server(aicore_simulator: Simulator) -> AsyncIterator[RunningSimulator]:
    """``aicore_simulator`` listening on 127.0.0.1 at a free port."""
    async with serve(aicore_simulator) as running:
        yield running
