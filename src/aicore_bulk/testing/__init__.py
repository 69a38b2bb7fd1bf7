"""A faithful simulator of SAP AI Core's AI API, for your tests and ours.

Start one in-process, seed it, point a client at it, and read back what happened::

    from aicore_bulk.testing import Simulator, serve

    sim = Simulator()
    ids = sim.seed("executions", 1_000)
    async with serve(sim) as server:
        ...  # talk to server.base_url with server.credentials
    assert sim.statistics().violation_count == 0

:class:`VirtualClock` is the one fake time: give it to the simulator and to the client
(``BulkClient(clock=clock, transport=clock.track(AiohttpTransport()))``) and stop waits,
polls and ``Retry-After`` pauses take no real time.

With pytest (``pip install 'aicore-bulk[testing]'``), add
``pytest_plugins = ["aicore_bulk.testing.pytest_plugin"]`` to your top-level ``conftest.py``
for the ``aicore_clock``, ``aicore_simulator``, ``aicore_server`` and ``aicore_client``
fixtures: the last is a client of the served simulator on the same virtual clock.
"""

from aicore_bulk._simulator._app import build_app
from aicore_bulk._simulator._core import Credentials, ItemSnapshot, Simulator, SimulatorConfig
from aicore_bulk._simulator._faults import Faults
from aicore_bulk._simulator._groups import ResourceGroup
from aicore_bulk._simulator._seed import DEFAULT_MIX, Lifecycle, SeedSpec
from aicore_bulk._simulator._server import (
    RunningSimulator,
    serve,
    serve_in_thread,
    serve_until_signal,
)
from aicore_bulk._simulator._stats import GroupStatistics, Statistics, Violation
from aicore_bulk.testing._clock import VirtualClock

__all__ = [
    "DEFAULT_MIX",
    "Credentials",
    "Faults",
    "GroupStatistics",
    "ItemSnapshot",
    "Lifecycle",
    "ResourceGroup",
    "RunningSimulator",
    "SeedSpec",
    "Simulator",
    "SimulatorConfig",
    "Statistics",
    "Violation",
    "VirtualClock",
    "build_app",
    "serve",
    "serve_in_thread",
    "serve_until_signal",
]
