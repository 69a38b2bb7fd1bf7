"""One-line entry points for synchronous code (an orchestrator's plain Python task).

Each builds a client with :meth:`BulkClient.from_env` (settings from ``AICORE_*``, the config
file or a service key, unless given here), runs one call on a fresh event loop, and closes
the client. ``ids`` is an iterable of IDs or a :class:`Selection`, which the client lists
(:meth:`BulkClient.select`) on that same loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Literal, TypeVar

from aicore_bulk._client import BulkClient
from aicore_bulk._events import Listener
from aicore_bulk._intake import Ids
from aicore_bulk._models import Kind, Limits, RunOptions
from aicore_bulk._report import Plan, Report
from aicore_bulk._retry import RetryPolicy
from aicore_bulk._selection import Selection

T = TypeVar("T")


def delete_sync(
    kind: Kind,
    ids: Iterable[str] | Selection,
    *,
    profile: str | None = None,
    resource_group: str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    options: RunOptions | None = None,
    listener: Listener | None = None,
    deadline: float | None = None,
    include_running: bool = False,
) -> Report:
    """Delete ``ids`` (IDs or a :class:`Selection`) from synchronous code.

    See :meth:`BulkClient.delete`.

    ``profile`` and ``resource_group`` override what :meth:`BulkClient.from_env` reads;
    ``limits``, ``retry``, ``options`` and ``listener`` go to the client. PENDING and RUNNING
    deployments serve traffic: they are stopped only with ``include_running=True``.
    """
    client = _client(profile, resource_group, limits, retry, options, listener)
    return _run(
        _with(
            client,
            lambda: client.delete(
                kind, _ids(client, kind, ids), deadline=deadline, include_running=include_running
            ),
        )
    )


def stop_sync(
    kind: Kind,
    ids: Iterable[str] | Selection,
    *,
    profile: str | None = None,
    resource_group: str | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    options: RunOptions | None = None,
    listener: Listener | None = None,
    deadline: float | None = None,
    include_running: bool = False,
) -> Report:
    """Stop ``ids`` from synchronous code; the arguments are those of :func:`delete_sync`."""
    client = _client(profile, resource_group, limits, retry, options, listener)
    return _run(
        _with(
            client,
            lambda: client.stop(
                kind, _ids(client, kind, ids), deadline=deadline, include_running=include_running
            ),
        )
    )


def plan_sync(
    kind: Kind,
    ids: Iterable[str] | Selection,
    *,
    target: Literal["DELETED", "STOPPED"] = "DELETED",
    profile: str | None = None,
    resource_group: str | None = None,
    listener: Listener | None = None,
    include_running: bool = False,
) -> Plan:
    """A dry run from synchronous code; see :meth:`BulkClient.plan`."""
    client = _client(profile, resource_group, None, None, None, listener)
    return _run(
        _with(
            client,
            lambda: client.plan(
                kind, _ids(client, kind, ids), target=target, include_running=include_running
            ),
        )
    )


def _client(
    profile: str | None,
    resource_group: str | None,
    limits: Limits | None,
    retry: RetryPolicy | None,
    options: RunOptions | None,
    listener: Listener | None,
) -> BulkClient:
    settings: dict[str, Any] = {}
    if resource_group is not None:
        settings["resource_group"] = resource_group
    return BulkClient.from_env(
        profile=profile,
        limits=limits,
        retry=retry,
        options=options,
        listener=listener,
        **settings,
    )


def _ids(client: BulkClient, kind: Kind, ids: Iterable[str] | Selection) -> Ids:
    """The IDs themselves, or the stream of the items the selection takes."""
    return client.select(kind, ids) if isinstance(ids, Selection) else ids


async def _with(client: BulkClient, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``'s result, the client closed afterwards."""
    async with client:
        return await call()


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
