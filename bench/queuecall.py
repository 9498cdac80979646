"""Figure: queuecall.php requests per second and latency (p50/p99) with 32 concurrent clients.

A running ``vxdial serve`` (SQLite by default, or PostgreSQL) receives
urlencoded queuecall posts from 32 concurrent keep-alive clients (aiohttp, in this
process); every answer is checked for status="queued". Usage:
python bench/queuecall.py [--requests N] [--clients 32] [--engine sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from _common import customer_app, database, machine, vxdial_server


async def hammer(base_url: str, start_url: str, requests: int, clients: int) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            for i in counter:
                form = {
                    "login": "bench",
                    "pin": "1234",
                    "phone_number": f"1555{i % 10_000_000:07d}",
                    "start_url": start_url,
                    "message_reference": f"ref-{i}",
                    "max_retries": "2",
                    "retry_interval": "300",
                    "scheduled_time": "now",
                }
                started = time.perf_counter()
                async with session.post(
                    f"{base_url}/webservice/queuecall.php", data=form
                ) as response:
                    body = await response.text()
                latencies.append(time.perf_counter() - started)
                if 'status="queued"' not in body:
                    raise RuntimeError(body)

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def run(engine: str, requests: int, clients: int) -> None:
    with database(engine) as url, customer_app() as app, vxdial_server(url) as server:
        start_url = f"{app}/start.vxml"
        asyncio.run(hammer(server.base_url, start_url, min(500, requests), clients))  # warm up
        started = time.perf_counter()
        latencies = asyncio.run(hammer(server.base_url, start_url, requests, clients))
        elapsed = time.perf_counter() - started
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(
            f"queuecall {engine:10s}: {requests:,} requests, {clients} clients "
            f"in {elapsed:.2f} s = "
            f"{requests / elapsed:,.0f} requests/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
            f"server peak RSS {server.rss_peak_mb():.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    for engine in engines:
        run(engine, args.requests, args.clients)


if __name__ == "__main__":
    main()
