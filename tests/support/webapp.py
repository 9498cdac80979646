"""A customer's application on loopback: answers start_url / result_url probes and
records every request, with a status chosen per path. A real HTTP server in a thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_DOCUMENT = (
    b'<?xml version="1.0"?><vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">'
    b"<form><block>Hello</block></form></vxml>"
)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: bool = False  # the answer was sent


@dataclass
class WebApp:
    host: str
    port: int
    statuses: dict[str, int] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    # Answer bodies per path (a VoiceXML document by default).
    bodies: dict[str, bytes] = field(default_factory=dict)
    # Statuses to answer, one per request, before ``statuses`` applies (e.g. [500, 500]);
    # keyed by path, or by "METHOD path".
    status_sequences: dict[str, list[int]] = field(default_factory=dict)
    # Answers that wait until the event is set (at most ``hold_s``), by "METHOD path" or path.
    holds: dict[str, threading.Event] = field(default_factory=dict)
    hold_s: float = 30.0
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def seen(self, path: str, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method)
            ]


def start_webapp() -> tuple[WebApp, ThreadingHTTPServer]:
    app_ref: list[WebApp] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            app = app_ref[0]
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?")[0]
            seen = Seen(self.command, path, dict(self.headers), body)
            with app.lock:
                app.requests.append(seen)
            delay = app.delays.get(path)
            if delay:
                threading.Event().wait(delay)
            hold = app.holds.get(f"{self.command} {path}") or app.holds.get(path)
            if hold is not None:
                hold.wait(app.hold_s)
            with app.lock:
                sequence = app.status_sequences.get(f"{self.command} {path}")
                sequence = sequence or app.status_sequences.get(path)
                status = sequence.pop(0) if sequence else app.statuses.get(path, 200)
            payload = app.bodies.get(path, DEFAULT_DOCUMENT)
            self.send_response(status)
            self.send_header("Content-Type", "application/voicexml+xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            with app.lock:
                seen.answered = True

        do_GET = _answer
        do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    app = WebApp("127.0.0.1", server.server_address[1])
    app_ref.append(app)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    return app, server
