"""Figure: phone_list ingest through queuecalls.php, lines per second and server peak RSS.

Uploads a generated phone_list (1,000,000 lines by default, one in a thousand bad)
to a running ``vxdial serve`` and reads the whole streamed answer, on SQLite and on
PostgreSQL. Usage: python bench/ingest.py [--lines N] [--engine sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

import httpx

from _common import customer_app, database, machine, vxdial_server


def make_phone_list(path: str, lines: int, bad_every: int) -> int:
    """Write the list; returns how many lines are bad."""
    rng = random.Random(42)
    bad = 0
    with open(path, "w", newline="") as f:
        for i in range(1, lines + 1):
            if bad_every and i % bad_every == 0:
                f.write(f"12{i % 10},bad-{i}\r\n")
                bad += 1
            else:
                number = f"1{rng.randrange(201, 989)}{rng.randrange(10**7):07d}"
                f.write(f'{number},ref-{i},"name=Pat {i},lang=en"\r\n')
    return bad


def run(engine: str, path: str, lines: int, bad: int) -> None:
    with database(engine) as url, customer_app() as app, vxdial_server(url) as server:
        idle_rss = server.rss_now_mb()
        started = time.perf_counter()
        with open(path, "rb") as f:
            response = httpx.post(
                f"{server.base_url}/webservice/queuecalls.php",
                data={
                    "login": "bench",
                    "pin": "1234",
                    "campaign_name": "bench",
                    "start_url": f"{app}/start.vxml",
                },
                files={"phone_list": ("list.csv", f, "text/csv")},
                timeout=600,
            )
        elapsed = time.perf_counter() - started
        body = response.text
        head = body[: body.index(">", 30) + 1]
        assert 'status="queued"' in head, body[:2000]
        assert f'calls_queued="{lines - bad}"' in head, head
        assert f'lines_rejected="{bad}"' in head, head
        print(
            f"ingest {engine:10s}: {lines:,} lines ({bad:,} bad) in {elapsed:.2f} s = "
            f"{lines / elapsed:,.0f} lines/s; server RSS idle {idle_rss:.0f} MB, "
            f"peak {server.rss_peak_mb():.0f} MB; answer {len(body) / 1e6:.1f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--bad-every", type=int, default=1000)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "phone_list.csv")
        bad = make_phone_list(path, args.lines, args.bad_every)
        print(f"phone_list: {os.path.getsize(path) / 1e6:.1f} MB")
        engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
        for engine in engines:
            run(engine, path, args.lines, bad)


if __name__ == "__main__":
    main()
