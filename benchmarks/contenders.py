"""The contenders, each run in its own process so that its CPU time and peak memory are its own.

    python benchmarks/contenders.py NAME --ids-file PATH [--concurrency N] [--rate R]
                                    [--static] [--remember]

The simulator's ``AICORE_*`` settings come from the environment. Prints one JSON line:
``{"seconds", "cpu_seconds", "peak_rss_mb", "items"}``; ``seconds`` starts after imports.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import resource
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import aiohttp

RUNNING = {"PENDING", "RUNNING"}
DELETABLE = {"COMPLETED", "DEAD", "STOPPED", "UNKNOWN"}
BATCH = 100
POLL = 0.5
ADAPTIVE = True
REMEMBER = False
#: The per-item code of a change the item's status forbids (a delete of a RUNNING item).
STATUS_FORBIDS = "01010076"


def peak_rss_mb() -> float:
    """Peak RSS of this process alone (VmHWM): ru_maxrss survives exec and shows the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith("AICORE_")}


async def token(session: aiohttp.ClientSession) -> dict[str, str]:
    env = settings()
    form = {
        "grant_type": "client_credentials",
        "client_id": env["AICORE_CLIENT_ID"],
        "client_secret": env["AICORE_CLIENT_SECRET"],
    }
    async with session.post(env["AICORE_AUTH_URL"], data=form) as response:
        access = (await response.json())["access_token"]
    return {"Authorization": f"Bearer {access}", "AI-Resource-Group": env["AICORE_RESOURCE_GROUP"]}


async def statuses(
    session: aiohttp.ClientSession, headers: dict[str, str], status: str | None = None
) -> dict[str, str]:
    """Every item's status, 10,000 a page (what any careful script does first)."""
    base = settings()["AICORE_BASE_URL"]
    found: dict[str, str] = {}
    while True:
        params = {"$select": "status", "$top": "10000", "$skip": str(len(found))}
        if status:
            params["status"] = status
        async with session.get(f"{base}/lm/executions", headers=headers, params=params) as r:
            page = (await r.json())["resources"]
        found.update((item["id"], item["status"]) for item in page)
        if len(page) < 10_000:
            return found


async def per_item(ids: Sequence[str], concurrency: int, _rate: float | None) -> None:
    """One PATCH /{id} or DELETE /{id} per item, as the AI Core docs' curl examples do."""
    base = settings()["AICORE_BASE_URL"]
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        headers = await token(s)
        known = await statuses(s, headers)

        async def call(method: str, item_id: str, body: dict[str, str] | None = None) -> None:
            async with (
                gate,
                s.request(
                    method, f"{base}/lm/executions/{item_id}", headers=headers, json=body
                ) as response,
            ):
                await response.read()

        mine = [i for i in ids if i in known]
        stopped = [i for i in mine if known[i] in RUNNING]
        await asyncio.gather(
            *(call("PATCH", i, {"targetStatus": "STOPPED"}) for i in stopped),
            *(call("DELETE", i) for i in mine if known[i] in DELETABLE),
        )
        waiting = set(stopped) | {i for i in mine if known[i] == "STOPPING"}
        while waiting:
            await asyncio.sleep(POLL)
            still = await statuses(s, headers, "STOPPING")
            ready = [i for i in waiting if i not in still]
            waiting -= set(ready)
            await asyncio.gather(*(call("DELETE", i) for i in ready))


def sdk(ids: Sequence[str], _concurrency: int, _rate: float | None) -> None:
    """SAP's official SDK: bulk_modify over hand-made chunks of 100, one after another."""
    from ai_api_client_sdk.ai_api_v2_client import AIAPIV2Client
    from ai_api_client_sdk.models.base_models import BasicModifyRequest
    from ai_api_client_sdk.models.status import Status
    from ai_api_client_sdk.models.target_status import TargetStatus

    env = settings()
    client = AIAPIV2Client(
        base_url=env["AICORE_BASE_URL"] + "/lm",
        auth_url=env["AICORE_AUTH_URL"],
        client_id=env["AICORE_CLIENT_ID"],
        client_secret=env["AICORE_CLIENT_SECRET"],
        resource_group=env["AICORE_RESOURCE_GROUP"],
    )

    def listed(status: Status | None = None) -> dict[str, str]:
        found: dict[str, str] = {}
        while True:
            page = client.execution.query(status=status, top=10_000, skip=len(found) or None)
            found.update((e.id, e.status.value) for e in page.resources)
            if len(page.resources) < 10_000:
                return found

    def modify(chunk: Sequence[str], target: TargetStatus) -> None:
        client.execution.bulk_modify([BasicModifyRequest(i, target) for i in chunk])

    def in_chunks(items: Sequence[str], target: TargetStatus) -> None:
        for start in range(0, len(items), BATCH):
            modify(items[start : start + BATCH], target)

    known = listed()
    mine = [i for i in ids if i in known]
    stopped = [i for i in mine if known[i] in RUNNING]
    in_chunks(stopped, TargetStatus.STOPPED)
    in_chunks([i for i in mine if known[i] in DELETABLE], TargetStatus.DELETED)
    waiting = set(stopped) | {i for i in mine if known[i] == "STOPPING"}
    while waiting:
        time.sleep(POLL)
        still = listed(Status.STOPPING)
        ready = [i for i in waiting if i not in still]
        waiting -= set(ready)
        in_chunks(ready, TargetStatus.DELETED)


async def raw(ids: Sequence[str], concurrency: int, _rate: float | None) -> None:
    """Pre-chunked bulk deletes with asyncio.gather and a semaphore: no plan, retries or report."""
    base = settings()["AICORE_BASE_URL"]
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        headers = {**await token(s), "Content-Type": "application/merge-patch+json"}

        async def send(chunk: Sequence[str]) -> None:
            body = json.dumps({"executions": [{"id": i, "targetStatus": "DELETED"} for i in chunk]})
            async with gate, s.patch(f"{base}/lm/executions", data=body, headers=headers) as r:
                await r.json()

        await asyncio.gather(*(send(ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)))


async def skip_status(ids: Sequence[str], concurrency: int, _rate: float | None) -> None:
    """A prototype, not the engine: delete first without reading statuses (issue 14, part 2).

    Every ID is deleted in chunks of 100; what bounces with 01010076 (running, so a delete is
    forbidden) is stopped, waited for (the STOPPING list, as the other contenders poll) and
    deleted. No plan, retries or report: it measures what skipping the status read saves.
    The simulator counts its deletes of running items as violations: the harness listed every
    status (to learn the IDs) on the same simulator, and it cannot tell the two apart.
    """
    base = settings()["AICORE_BASE_URL"]
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        headers = await token(s)
        patch_headers = {**headers, "Content-Type": "application/merge-patch+json"}

        async def send(chunk: Sequence[str], target: str) -> list[str]:
            """One bulk change; the IDs that bounced because their status forbids it."""
            body = json.dumps({"executions": [{"id": i, "targetStatus": target} for i in chunk]})
            async with (
                gate,
                s.patch(f"{base}/lm/executions", data=body, headers=patch_headers) as r,
            ):
                answer = await r.json()
            return [
                entry["id"]
                for entry in answer["executions"]
                if entry.get("error", {}).get("code") == STATUS_FORBIDS
            ]

        async def in_chunks(chosen: Sequence[str], target: str) -> list[str]:
            chunks = [chosen[i : i + BATCH] for i in range(0, len(chosen), BATCH)]
            answers = await asyncio.gather(*(send(chunk, target) for chunk in chunks))
            return [item for bounced in answers for item in bounced]

        bounced = await in_chunks(ids, "DELETED")
        # A bounced stop is an item already STOPPING: it is waited for all the same.
        await in_chunks(bounced, "STOPPED")
        waiting = set(bounced)
        while waiting:
            await asyncio.sleep(POLL)
            still = await statuses(s, headers, "STOPPING")
            ready = [i for i in bounced if i in waiting and i not in still]
            waiting -= set(ready)
            # Stopped in the meantime, or never stoppable (a PENDING item that completed):
            # what bounces again is left for the next look.
            waiting |= set(await in_chunks(ready, "DELETED"))


async def aicore_bulk(ids: Sequence[str], concurrency: int, rate: float | None) -> None:
    """aicore-bulk with its defaults (a rate cap only when the scenario gives one)."""
    from aicore_bulk import BulkClient, Limits, RunOptions

    # REMEMBER: the limits learned by an earlier run, kept in the XDG cache between runs.
    limits = Limits(concurrency=concurrency, rate=rate, adaptive=ADAPTIVE, remember=REMEMBER)
    async with BulkClient.from_env(limits=limits, options=RunOptions(poll_interval=POLL)) as client:
        report = await client.delete("executions", ids)
    if not report.ok:
        raise SystemExit(f"aicore-bulk left items: {dict(report.summary.outcomes)}")


async def aicore_bulk_selection(_ids: Sequence[str], concurrency: int, rate: float | None) -> None:
    """aicore-bulk fed by a selection (--all) instead of a list of IDs."""
    from aicore_bulk import BulkClient, Limits, RunOptions, Selection

    limits = Limits(concurrency=concurrency, rate=rate)
    async with BulkClient.from_env(limits=limits, options=RunOptions(poll_interval=POLL)) as client:
        report = await client.delete("executions", client.select("executions", Selection()))
    if not report.ok:
        raise SystemExit(f"aicore-bulk left items: {dict(report.summary.outcomes)}")


CONTENDERS: dict[str, Callable[..., Coroutine[Any, Any, None] | None]] = {
    "per-item": per_item,
    "sdk": sdk,
    "raw-aiohttp": raw,
    "skip-status": skip_status,
    "aicore-bulk": aicore_bulk,
    "aicore-bulk-selection": aicore_bulk_selection,
}


#: Contenders that take their IDs from a selection, not from the IDs file.
SELECTS = {"aicore-bulk-selection"}

#: What each contender imports lazily, loaded before the clock starts.
IMPORTS = {
    "sdk": ("ai_api_client_sdk.ai_api_v2_client", "ai_api_client_sdk.models.base_models"),
    # aicore_bulk imports its public names when first used: the client is loaded here.
    "aicore-bulk": ("aicore_bulk", "aicore_bulk._client"),
    "aicore-bulk-selection": ("aicore_bulk", "aicore_bulk._client"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--ids-file", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--static", action="store_true", help="aicore-bulk without adaptive rate")
    parser.add_argument("--remember", action="store_true", help="aicore-bulk remembering limits")
    args = parser.parse_args()
    # The selection contender finds its IDs itself: a million IDs held here for nothing would
    # count against its peak RSS (about 90 MB).
    ids = [] if args.name in SELECTS else Path(args.ids_file).read_text().split()
    contender = CONTENDERS[args.name]
    for module in IMPORTS.get(args.name, ()):
        importlib.import_module(module)  # import time is not cleanup time
    started, cpu = time.perf_counter(), time.process_time()
    global ADAPTIVE, REMEMBER
    ADAPTIVE = not args.static
    REMEMBER = args.remember
    outcome = contender(ids, args.concurrency, args.rate)
    if asyncio.iscoroutine(outcome):
        asyncio.run(outcome)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
