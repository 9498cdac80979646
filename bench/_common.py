"""Shared by the benchmarks: the machine, a vxdial server process, a loopback app."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
VXDIAL = str(Path(sys.executable).with_name("vxdial"))
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def database(engine: str) -> Iterator[str]:
    """A fresh database URL on ``engine`` ("sqlite" or "postgresql"), removed afterwards."""
    if engine == "sqlite":
        folder = tempfile.mkdtemp(prefix="vxdial-bench-")
        try:
            yield f"sqlite:///{folder}/vxdial.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"vxdial_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]

    def rss_peak_mb(self) -> float:
        """The server's peak resident set (VmHWM), in MB."""
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def rss_now_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


@contextlib.contextmanager
def vxdial_server(
    database_url: str,
    *,
    sender: str = "bench",
    pin: str = "1234",
    serve_args: Sequence[str] = ("--no-dialer",),
) -> Iterator[Server]:
    """``vxdial serve`` in its own process on a free port, with one sender (HTTP only,
    unless ``serve_args`` says otherwise)."""
    env = {**os.environ, "VXDIAL_DATABASE_URL": database_url}
    subprocess.run(
        [VXDIAL, "sender", "add", sender, "--pin", pin], env=env, check=True, capture_output=True
    )
    port = free_port()
    process = subprocess.Popen(
        [VXDIAL, "serve", "--port", str(port), *serve_args],
        env=env,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: a pipe nobody reads blocks a server that logs much.
        stderr=tempfile.TemporaryFile(),  # noqa: SIM115 (closed with the process)
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("vxdial serve did not start")
        time.sleep(0.1)
    try:
        yield Server(base, process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def customer_app() -> Iterator[str]:
    """A loopback server answering 200 to every GET/POST; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def app_process(target: Callable[..., None], port: int, *args: object) -> Iterator[str]:
    """Run ``target(port, *args)`` (an HTTP application) in its own process, wait until
    ``/start.vxml`` answers, and give its base URL; the process is stopped at the end."""
    process = multiprocessing.Process(target=target, args=(port, *args), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/start.vxml", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the application did not start"
            time.sleep(0.05)
    try:
        yield base
    finally:
        process.terminate()
        process.join(5)
