"""How many items per second of bulk PATCH traffic the simulator sustains.

The simulator runs in its own process; a plain aiohttp client in this process sends bulk
deletes of 100 items each, ``--concurrency`` at a time. For scale, the same client also
drives a bare aiohttp server that answers a canned 202 without any logic: the floor that
aiohttp itself sets on this machine. Both run in the same invocation, one after the other.

    python benchmarks/simulator_throughput.py [--items 200000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence

import aiohttp
from aiohttp import web

if __package__:  # imported as part of the benchmarks package, as the smoke tests do
    from ._harness import machine, save, server_process, simulator_process, table
else:  # run as a script (nox -s bench): its own folder is on sys.path
    from _harness import machine, save, server_process, simulator_process, table

BATCH = 100


async def fetch_token(session: aiohttp.ClientSession, settings: dict[str, str]) -> str:
    """A token from the simulator's token endpoint."""
    async with session.post(
        settings["AICORE_AUTH_URL"],
        data={
            "grant_type": "client_credentials",
            "client_id": settings["AICORE_CLIENT_ID"],
            "client_secret": settings["AICORE_CLIENT_SECRET"],
        },
    ) as response:
        response.raise_for_status()
        return str((await response.json())["access_token"])


async def list_ids(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> list[str]:
    """Every execution ID, a page of 10,000 at a time."""
    ids: list[str] = []
    while True:
        params = {"$select": "status", "$top": "10000", "$skip": str(len(ids))}
        async with session.get(f"{url}/v2/lm/executions", headers=headers, params=params) as r:
            page = (await r.json())["resources"]
        if not page:
            return ids
        ids += [item["id"] for item in page]


async def drive(url: str, headers: dict[str, str], ids: Sequence[str], concurrency: int) -> float:
    """Delete ``ids`` in bulk requests of 100; returns the wall seconds."""
    batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    queue: asyncio.Queue[Sequence[str]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    connector = aiohttp.TCPConnector(limit=concurrency)
    patch_headers = {**headers, "Content-Type": "application/merge-patch+json"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                body = json.dumps(
                    {"executions": [{"id": i, "targetStatus": "DELETED"} for i in batch]}
                )
                async with session.patch(
                    f"{url}/v2/lm/executions", data=body, headers=patch_headers
                ) as response:
                    answer = await response.json()
                    if response.status != 202 or len(answer["executions"]) != len(batch):
                        raise RuntimeError(f"unexpected answer {response.status}: {answer}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def serve_bare(stop: asyncio.Event) -> None:
    """An aiohttp server with no logic: parse the body, answer one entry per item."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        answers = [{"id": e["id"], "message": "ok"} for e in body["executions"]]
        return web.json_response({"executions": answers}, status=202)

    app = web.Application()
    app.router.add_patch("/v2/lm/executions", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"bare server listening on http://127.0.0.1:{runner.addresses[0][1]}")
    print("Press Ctrl-C to stop.", flush=True)
    await stop.wait()
    await runner.cleanup()


def bare_server_main() -> None:
    """Serve the bare server until SIGTERM (run as a child process)."""

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve_bare(stop)

    asyncio.run(main())


async def run_bare(items: int, concurrency: int) -> float:
    """Drive the bare server, run in its own process like the simulator."""
    async with server_process(sys.executable, __file__, "--bare-server") as settings:
        ids = [f"e{n:016x}" for n in range(items)]
        return await drive(settings["url"], {}, ids, concurrency)


async def run_simulator(items: int, concurrency: int) -> tuple[float, int]:
    """Delete ``items`` seeded executions; returns the wall seconds and how many are left."""
    async with simulator_process(
        "--seed-executions", str(items), "--status-mix", "DEAD=1", "--delete-linger", "0"
    ) as settings:
        async with aiohttp.ClientSession() as session:
            token = await fetch_token(session, settings)
            headers = {"Authorization": f"Bearer {token}", "AI-Resource-Group": "default"}
            ids = await list_ids(session, settings["url"], headers)
        if len(ids) != items:
            raise RuntimeError(f"listed {len(ids)} of {items} seeded items")
        seconds = await drive(settings["url"], headers, ids, concurrency)
        count_url = f"{settings['url']}/v2/lm/executions/$count"
        async with aiohttp.ClientSession() as session, session.get(count_url, headers=headers) as r:
            left = int(await r.text())
        return seconds, left


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both servers, print the table, save the figures; 1 if under 20,000 items/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server:
        bare_server_main()
        return 0

    sim_seconds, left = asyncio.run(run_simulator(args.items, args.concurrency))
    bare_seconds = asyncio.run(run_bare(args.items, args.concurrency))
    sim_rate, bare_rate = args.items / sim_seconds, args.items / bare_seconds
    rows = [
        ["simulator (full rules, auth, bookkeeping)", f"{sim_seconds:.2f}", f"{sim_rate:,.0f}"],
        ["bare aiohttp server (no logic)", f"{bare_seconds:.2f}", f"{bare_rate:,.0f}"],
    ]
    print(
        f"Bulk PATCH throughput, {args.items:,} items in requests of {BATCH}, "
        f"concurrency {args.concurrency}; {machine()}"
    )
    print(table(["server", "seconds", "items/s"], rows))
    print(f"simulator / bare = {sim_rate / bare_rate:.2f}; items left after: {left}")
    save(
        "simulator_throughput",
        {
            "machine": machine(),
            "items": args.items,
            "concurrency": args.concurrency,
            "simulator_items_per_s": round(sim_rate),
            "bare_items_per_s": round(bare_rate),
            "items_left": left,
        },
    )
    target = 20_000
    if sim_rate < target:
        print(f"BELOW TARGET: {sim_rate:,.0f} < {target:,} items/s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
