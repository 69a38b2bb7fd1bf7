"""pytest fixtures for the simulator, and a client of it on the same virtual time.

Enable them with ``pytest_plugins = ["aicore_bulk.testing.pytest_plugin"]`` in your top-level
``conftest.py``; install ``aicore-bulk[testing]`` for pytest and pytest-asyncio.

``aicore_clock`` is a :class:`~aicore_bulk.testing.VirtualClock`;
``aicore_simulator`` is a fresh :class:`~aicore_bulk.testing.Simulator` on that clock;
``aicore_server`` serves it on a free loopback port for the test's duration;
``aicore_client`` is a :class:`~aicore_bulk.BulkClient` of that server on the same clock, so
that stop waits, polls and ``Retry-After`` pauses take no real time.
Override ``aicore_simulator_config`` to change the simulator's knobs and
``aicore_client_options`` to change the client's, for a module or a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypedDict

import pytest
import pytest_asyncio

from aicore_bulk import (
    AiohttpTransport,
    BulkClient,
    InputError,
    Limits,
    Listener,
    RetryPolicy,
    RunOptions,
    Transport,
)
from aicore_bulk._simulator._core import Simulator, SimulatorConfig
from aicore_bulk._simulator._server import RunningSimulator, serve
from aicore_bulk.testing._clock import VirtualClock


class ClientOptions(TypedDict, total=False):
    """What a test may set on ``aicore_client``: :class:`~aicore_bulk.BulkClient`'s keywords.

    Where it connects and its clock are the plugin's. A ``transport`` of your own is tracked
    by the clock, as the default one is.
    """

    resource_group: str
    limits: Limits
    retry: RetryPolicy
    options: RunOptions
    listener: Listener
    transport: Transport


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


@pytest.fixture
def aicore_client_options() -> ClientOptions:
    """The client's options (none: the defaults); override or parametrize this fixture."""
    return {}


@pytest_asyncio.fixture
async def aicore_client(
    aicore_server: RunningSimulator,
    aicore_clock: VirtualClock,
    aicore_client_options: ClientOptions,
) -> AsyncIterator[BulkClient]:
    """A :class:`~aicore_bulk.BulkClient` of ``aicore_server`` on the virtual clock.

    Its transport is tracked by the clock: time jumps only while no request is on its way,
    so a stop wait or a ``Retry-After`` pause passes at once, in the order it would in real
    life. It is closed when the test ends.
    """
    unknown = sorted(set(aicore_client_options) - ClientOptions.__optional_keys__)
    if unknown:
        known = ", ".join(sorted(ClientOptions.__optional_keys__))
        raise InputError(f"aicore_client_options: no option {', '.join(unknown)}; use {known}")
    options = aicore_client_options
    limits = options.get("limits")
    # One pooled connection per request in flight, as BulkClient's own transport has.
    connections = (limits if isinstance(limits, Limits) else Limits()).concurrency
    transport = options.get("transport") or AiohttpTransport(connections=connections)
    credentials = aicore_server.credentials
    async with BulkClient(
        base_url=aicore_server.base_url,
        auth_url=aicore_server.token_url,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        resource_group=options.get("resource_group", "default"),
        limits=limits,
        retry=options.get("retry"),
        options=options.get("options"),
        listener=options.get("listener"),
        clock=aicore_clock,
        transport=aicore_clock.track(transport),
    ) as client:
        yield client
