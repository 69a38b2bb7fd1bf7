"""One-line entry points for synchronous code (an orchestrator's plain Python task)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, Literal, TypeVar

from aicore_bulk._client import BulkClient, Plan
from aicore_bulk._models import Kind
from aicore_bulk._report import Report

T = TypeVar("T")


def delete_sync(kind: Kind, ids: Iterable[str], **options: Any) -> Report:  # noqa: ANN401
    """Delete ``ids`` from synchronous code; ``options`` go to :meth:`BulkClient.from_env`."""

    async def main() -> Report:
        async with BulkClient.from_env(**options) as client:
            return await client.delete(kind, ids)

    return _run(main())


def stop_sync(kind: Kind, ids: Iterable[str], **options: Any) -> Report:  # noqa: ANN401
    """Stop ``ids`` from synchronous code; ``options`` go to :meth:`BulkClient.from_env`."""

    async def main() -> Report:
        async with BulkClient.from_env(**options) as client:
            return await client.stop(kind, ids)

    return _run(main())


def plan_sync(
    kind: Kind,
    ids: Iterable[str],
    *,
    target: Literal["DELETED", "STOPPED"] = "DELETED",
    **options: Any,  # noqa: ANN401
) -> Plan:
    """A dry run from synchronous code; ``options`` go to :meth:`BulkClient.from_env`."""

    async def main() -> Plan:
        async with BulkClient.from_env(**options) as client:
            return await client.plan(kind, ids, target=target)

    return _run(main())


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on a fresh event loop; in a thread if this thread already runs one (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coroutine)
        except BaseException as error:  # noqa: BLE001 - handed back to the calling thread
            box["error"] = error

    thread = threading.Thread(target=target, name="aicore-bulk-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]
