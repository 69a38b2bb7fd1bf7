"""Who is asking: every request names the tool, Python and aiohttp, with their versions."""

from __future__ import annotations

import platform

import aiohttp
from aiohttp import web

from aicore_bulk import AiohttpTransport, __version__
from aicore_bulk.testing import build_app


async def test_every_request_says_who_is_asking(make_client, aicore_simulator, aicore_clock):
    """API and token requests alike carry ``aicore-bulk/<v> Python/<v> aiohttp/<v>``."""
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request, _: web.StreamResponse) -> None:
        seen.append((request.path, request.headers.get("User-Agent")))

    app = build_app(aicore_simulator)
    app.on_response_prepare.append(record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    ids = aicore_simulator.seed("executions", 3, statuses={"DEAD": 1})
    try:
        async with make_client(
            base_url=f"{url}/v2",
            auth_url=f"{url}/oauth/token",
            transport=aicore_clock.track(AiohttpTransport()),
        ) as client:
            await client.delete("executions", ids)
    finally:
        await runner.cleanup()

    expected = (
        f"aicore-bulk/{__version__} Python/{platform.python_version()} "
        f"aiohttp/{aiohttp.__version__}"
    )
    assert {path for path, _ in seen} >= {"/oauth/token", "/v2/lm/meta", "/v2/lm/executions"}
    assert {agent for _, agent in seen} == {expected}
