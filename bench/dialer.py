"""Figure: completed calls per second, end to end, through the dialer.

A 10,000-call campaign is uploaded through queuecalls.php; the sim carrier answers at
once (ring_seconds = 0) with 1,000 lines; each answered call POSTs start_url on a
local HTTP application (its own process, aiohttp) that answers a one-prompt VoiceXML
document, and each final result is POSTed to a collector in that same application.
The clock runs from the upload's answer until the collector has all 10,000 results.

Runs on SQLite with one process (`vxdial serve`, which dials), and on PostgreSQL with
one and with two dialing workers (`vxdial serve --no-dialer` plus `vxdial worker`s).
Usage: python bench/dialer.py [--calls N] [--lines N] [--runs sqlite,pg1,pg2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from _common import VXDIAL, app_process, database, free_port, machine, vxdial_server

DOCUMENT = (
    b'<?xml version="1.0"?><vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">'
    b"<form><block><prompt>Hello.</prompt></block></form></vxml>"
)


def _app_process(port: int, results: object) -> None:
    """The customer's application: start_url, result_url (counting), probes."""
    from aiohttp import web

    counter = results  # multiprocessing.Value

    async def start(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=DOCUMENT, content_type="application/voicexml+xml")

    async def result(request: web.Request) -> web.Response:
        await request.read()
        with counter.get_lock():  # type: ignore[attr-defined]
            counter.value += 1  # type: ignore[attr-defined]
        return web.Response(text="ok")

    async def probe(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/start.vxml", start)
    app.router.add_get("/start.vxml", probe)
    app.router.add_post("/result", result)
    app.router.add_get("/result", probe)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextmanager
def customer_app() -> Iterator[tuple[str, object]]:
    results = multiprocessing.Value("i", 0)
    with app_process(_app_process, free_port(), results) as base:
        yield base, results


def config_file(folder: str, lines: int) -> str:
    path = Path(folder) / "vxdial.toml"
    path.write_text(
        f"[dialer]\nlines = {lines}\ncps = 100000\npoll_s = 0.05\n"
        '[[sim.rule]]\nmatch = "*"\nring_seconds = 0\n'
    )
    return str(path)


def run(name: str, engine: str, workers: int, calls: int, lines: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        database(engine) as url,
        customer_app() as (
            app,
            results,
        ),
    ):
        env_extra = {"VXDIAL_CONFIG": config_file(folder, lines)}
        os.environ.update(env_extra)
        serve_args = ["--no-dialer"] if workers else []
        with vxdial_server(url, serve_args=serve_args) as server:
            env = {**os.environ, "VXDIAL_DATABASE_URL": url}
            procs = [
                subprocess.Popen([VXDIAL, "worker"], env=env, stdout=subprocess.DEVNULL)
                for _ in range(workers)
            ]
            phone_list = "".join(f"1555{i:07d}\n" for i in range(calls)).encode()
            response = httpx.post(
                f"{server.base_url}/webservice/queuecalls.php",
                data={
                    "login": "bench",
                    "pin": "1234",
                    "campaign_name": "bench",
                    "start_url": f"{app}/start.vxml",
                    "result_url": f"{app}/result",
                },
                files={"phone_list": ("list.csv", phone_list)},
                timeout=300,
            )
            assert 'status="queued"' in response.text[:300], response.text[:500]
            started = time.perf_counter()
            deadline = started + 600
            while results.value < calls:  # type: ignore[attr-defined]
                assert time.perf_counter() < deadline, f"only {results.value} results"  # type: ignore[attr-defined]
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                proc.wait(30)
        dialers = (
            "serve (one process)" if not workers else f"{workers} worker(s) + serve --no-dialer"
        )
        print(
            f"dialer {name:4s} {engine:10s} {dialers:32s}: {calls:,} calls in {elapsed:.1f} s = "
            f"{calls / elapsed:,.0f} completed calls/s ({lines} lines)"
        )
        for key in env_extra:
            os.environ.pop(key, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000)
    parser.add_argument("--runs", default="sqlite,pg1,pg2")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    plans = {"sqlite": ("sqlite", 0), "pg1": ("postgresql", 1), "pg2": ("postgresql", 2)}
    for name in args.runs.split(","):
        engine, workers = plans[name]
        run(name, engine, workers, args.calls, args.lines)


if __name__ == "__main__":
    sys.exit(main())
