"""Engine tests run the real client against the simulator over loopback HTTP.

Time is virtual: the simulator and the client share one :class:`VirtualClock`, and the
client's sleeps jump it in deadline order, so a five-second stop wait takes no real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest_asyncio

from aicore_bulk import AiohttpTransport, BulkClient, RunOptions
from aicore_bulk.testing import RunningSimulator


@pytest_asyncio.fixture
async def make_client(aicore_server: RunningSimulator, aicore_clock) -> Callable[..., BulkClient]:
    """Build clients of the served simulator; every option can be overridden."""

    def make(**options) -> BulkClient:
        creds = aicore_server.credentials
        settings = {
            "base_url": aicore_server.base_url,
            "auth_url": aicore_server.token_url,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "resource_group": "default",
            "clock": aicore_clock,
            "options": RunOptions(poll_interval=1.0, **options.pop("run_options", {})),
        }
        settings.update(options)
        settings.setdefault("transport", aicore_clock.track(AiohttpTransport()))
        return BulkClient(**settings)

    return make


@pytest_asyncio.fixture
async def client(make_client) -> AsyncIterator[BulkClient]:
    async with make_client() as bulk:
        yield bulk
