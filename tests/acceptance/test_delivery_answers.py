"""result_url answers of any size: the deliverer reads the first few KiB of an answer
and drops the connection, so an endless or huge answer costs nothing and a 2xx still
delivers (a real vxdial dialing on loopback, a raw-socket result server)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.acceptance.dialing_support import Dialing
from vxdial.delivery.worker import ANSWER_SHOWN_CHARS

CHUNK = b"x" * 65536


@dataclass
class EndlessAnswers:
    """Answers every POST with ``status`` and a body that never ends (a GET, the probe
    before accepting, gets an empty 200); counts the posts and the answers cut off."""

    status: int
    port: int = 0
    posts: int = 0
    dropped: int = 0  # answers whose connection the client closed while they streamed
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/result") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            if head.startswith(b"GET"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            with self.lock:
                self.posts += 1
            reason = b"OK" if self.status == 200 else b"Refused"
            conn.sendall(
                b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                % (self.status, reason)
                + b"Endless answer: "
            )
            try:
                while True:  # 1 GiB and more, as long as the client reads
                    conn.sendall(CHUNK)
            except OSError:
                with self.lock:
                    self.dropped += 1


@contextlib.contextmanager
def endless_answers(status: int) -> Iterator[EndlessAnswers]:
    server = EndlessAnswers(status)
    listener = socket.create_server(("127.0.0.1", 0))
    server.port = listener.getsockname()[1]
    threading.Thread(target=server.serve, args=(listener,), daemon=True).start()
    try:
        yield server
    finally:
        listener.close()


def deliveries(dialing: Dialing, call_id: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = dialing.alice.get(f"/api/v1/calls/{call_id}/deliveries").json()
    return found


def test_an_endless_2xx_answer_delivers(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    with endless_answers(200) as result_server:
        call = dialing.queue(result_url=result_server.url())
        dialing.wait_for(
            lambda: [d["state"] for d in deliveries(dialing, call["id"])] == ["delivered"]
        )
        [delivery] = deliveries(dialing, call["id"])
        tries = delivery["tries"]
        assert isinstance(tries, list)
        assert [(t["status"], t["error"]) for t in tries] == [(200, None)]
        dialing.wait_for(lambda: result_server.dropped == 1)  # the rest was never read
        assert result_server.posts == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_endless_refusal_is_shown_bounded(start_dialing: Callable[..., Dialing]) -> None:
    dialing = start_dialing()
    with endless_answers(500) as result_server:
        call = dialing.queue(result_url=result_server.url())
        dialing.wait_for(lambda: any(d["tries"] for d in deliveries(dialing, call["id"])))
        [delivery] = deliveries(dialing, call["id"])
        [first] = delivery["tries"]  # type: ignore[misc]
        assert first["status"] == 500
        error = first["error"]
        assert error.startswith("HTTP 500: Endless answer: xxx")
        assert len(error) == len("HTTP 500: ") + ANSWER_SHOWN_CHARS and error.endswith("…")
        assert delivery["state"] == "pending"  # retried later, as any refusal
        dialing.wait_for(lambda: result_server.dropped == 1)
