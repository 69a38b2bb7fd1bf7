"""Running the simulator on loopback: in the current event loop, in a thread, or until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
from aiohttp import web

from aicore_bulk._simulator._app import build_app
from aicore_bulk._simulator._core import Credentials, Simulator


@attrs.frozen
class RunningSimulator:
    """A simulator listening on a socket, and how to reach it."""

    simulator: Simulator
    #: ``http://host:port``: the service key's ``AI_API_URL`` (API paths start with ``/v2``).
    url: str

    @property
    def base_url(self) -> str:
        """The AI API base URL, ``{url}/v2``, as SAP's SDKs and ``AICORE_BASE_URL`` take it."""
        return f"{self.url}/v2"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.url}/oauth/token"

    @property
    def credentials(self) -> Credentials:
        """The client credentials the token endpoint accepts."""
        return self.simulator.credentials

    def service_key(self) -> dict[str, Any]:
        """A service key in the shape AI Core's service binding gives, pointing here."""
        return {
            "clientid": self.credentials.client_id,
            "clientsecret": self.credentials.client_secret,
            "url": self.url,
            "identityzone": "simulator",
            "identityzoneid": "simulator",
            "appname": "aicore-bulk-simulator",
            "serviceurls": {"AI_API_URL": self.url},
        }

    def environment(self, resource_group: str = "default") -> dict[str, str]:
        """The ``AICORE_*`` variables SAP's SDKs read, pointing here."""
        return {
            "AICORE_BASE_URL": self.base_url,
            "AICORE_AUTH_URL": self.token_url,
            "AICORE_CLIENT_ID": self.credentials.client_id,
            "AICORE_CLIENT_SECRET": self.credentials.client_secret,
            "AICORE_RESOURCE_GROUP": resource_group,
        }


@contextlib.asynccontextmanager
async def serve(
    simulator: Simulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve ``simulator`` in the running event loop until the block ends.

    ``port=0`` picks a free port; the yielded value says which. With ``ssl_context`` (a
    server context, e.g. from a test CA made with trustme) it serves HTTPS; a context that
    also verifies client certificates lets the token endpoint accept X.509 (mTLS) clients.
    """
    runner = web.AppRunner(build_app(simulator), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        display_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        scheme = "https" if ssl_context is not None else "http"
        yield RunningSimulator(simulator, f"{scheme}://{display_host}:{bound_port}")
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def serve_in_thread(
    simulator: Simulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[RunningSimulator]:
    """Serve ``simulator`` from a background thread, for synchronous tests and tools.

    Read the simulator's state only while no request is in flight: it is not locked.
    """
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        box["loop"] = asyncio.get_running_loop()
        try:
            async with serve(simulator, host=host, port=port, ssl_context=ssl_context) as running:
                box["running"] = running
                started.set()
                await stop.wait()
        except BaseException as exc:
            box["error"] = exc
            started.set()
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    started.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield box["running"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join()


async def serve_until_signal(
    simulator: Simulator,
    *,
    host: str,
    port: int,
    on_ready: Callable[[RunningSimulator], None],
) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(simulator, host=host, port=port) as running:
            on_ready(running)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
