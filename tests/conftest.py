"""Fixtures shared by every test: the simulator plugin, and a raw HTTP client for it."""

from __future__ import annotations

import json as jsonlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest_asyncio

from aicore_bulk.testing import RunningSimulator

pytest_plugins = ["aicore_bulk.testing.pytest_plugin"]


@attrs.define
class RawApi:
    """A deliberately thin HTTP client: tests of the simulator speak the wire format by hand."""

    session: aiohttp.ClientSession
    server: RunningSimulator
    token: str | None = None

    async def fetch_token(self) -> str:
        """Get a token with the simulator's credentials and keep it for later calls."""
        creds = self.server.credentials
        async with self.session.post(
            self.server.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        ) as response:
            assert response.status == 200, await response.text()
            self.token = (await response.json())["access_token"]
            return self.token

    def headers(self, resource_group: str | None = "default", **extra: str) -> dict[str, str]:
        """Bearer token and resource group headers."""
        headers = dict(extra)
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if resource_group is not None:
            headers["AI-Resource-Group"] = resource_group
        return headers

    async def call(
        self,
        method: str,
        path: str,
        *,
        resource_group: str | None = "default",
        json: Any = None,
        content_type: str | None = None,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Send one request; returns (status, parsed JSON or text, response)."""
        headers = self.headers(resource_group)
        body = data
        if json is not None:
            body = jsonlib.dumps(json).encode()
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        async with self.session.request(
            method, f"{self.server.base_url}{path}", headers=headers, data=body, params=params
        ) as response:
            text = await response.text()
            try:
                payload: Any = await response.json(content_type=None)
            except ValueError:
                payload = text
            return response.status, payload, response

    async def bulk(
        self, kind: str, entries: list[dict[str, str]], *, resource_group: str = "default"
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Send one bulk PATCH of ``entries`` with the right content type."""
        return await self.call(
            "PATCH",
            f"/lm/{kind}",
            json={kind: entries},
            content_type="application/merge-patch+json",
            resource_group=resource_group,
        )


@pytest_asyncio.fixture
async def api(aicore_server: RunningSimulator) -> AsyncIterator[RawApi]:
    """A raw client of the simulator that already holds a valid token."""
    async with aiohttp.ClientSession() as session:
        client = RawApi(session, aicore_server)
        await client.fetch_token()
        yield client
