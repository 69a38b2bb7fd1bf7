"""A faithful simulator of SAP AI Core's AI API, for your tests and ours.

Start one in-process, seed it, point a client at it, and read back what happened::

    from aicore_bulk.testing import Simulator, serve

    sim = Simulator()
    ids = sim.seed("executions", 1_000)
    async with serve(sim) as server:
        ...  # talk to server.base_url with server.credentials
    assert sim.statistics().violation_count == 0

With pytest, add ``pytest_plugins = ["aicore_bulk.testing.pytest_plugin"]`` to your
``conftest.py`` for the ``aicore_simulator`` and ``aicore_server`` fixtures.
"""

from aicore_bulk._simulator._app import build_app
from aicore_bulk._simulator._clock import ManualClock
from aicore_bulk._simulator._core import Credentials, ItemState, Simulator, SimulatorConfig
from aicore_bulk._simulator._faults import Faults
from aicore_bulk._simulator._seed import DEFAULT_MIX, Lifecycle, SeedSpec
from aicore_bulk._simulator._server import RunningSimulator, serve, serve_in_thread
from aicore_bulk._simulator._stats import Statistics, Violation

__all__ = [
    "DEFAULT_MIX",
    "Credentials",
    "Faults",
    "ItemState",
    "Lifecycle",
    "ManualClock",
    "RunningSimulator",
    "SeedSpec",
    "Simulator",
    "SimulatorConfig",
    "Statistics",
    "Violation",
    "build_app",
    "serve",
    "serve_in_thread",
]
