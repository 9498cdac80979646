"""vxdial's HTTP application served by uvicorn on loopback, in a thread (as httpx's own
tests do), so tests talk real HTTP to it and can still share its FakeClock."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from vxdial.app import create_app
from vxdial.config import Settings
from vxdial.domain.clock import Clock
from vxdial.httpedge import server_options
from vxdial.telephony import Driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dialing: bool = False,
    driver: Driver | None = None,
) -> Iterator[str]:
    """Serve ``create_app(settings)`` (without the dialer unless ``dialing``); yields the
    base URL."""
    port = free_port()
    app = create_app(settings, clock=clock, dialing=dialing, driver=driver)
    # The configuration of `vxdial serve`: its head deadline, head size limit, keep-alive.
    config = uvicorn.Config(
        app,
        **server_options(settings.server),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("vxdial did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
