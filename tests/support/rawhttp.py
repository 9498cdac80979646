"""HTTP/1.1 over a bare socket, for clients that misbehave on purpose: a head sent in
pieces or never finished, a body that stalls or trickles, a body that never ends."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the answer said "Connection: close", and the server closed it

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class RawConnection:
    """One TCP connection to ``base_url``'s host; ``guard_s`` bounds every wait (a
    guard against a hang: a test that needs it has failed)."""

    def __init__(self, base_url: str, *, guard_s: float = 60.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.sock = socket.create_connection((self.host, self.port), timeout=guard_s)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def read_answer(self) -> RawAnswer:
        """The next answer (Content-Length or chunked or until close)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before an answer: {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            body = rest[:length]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in rest:
                    rest += self.sock.recv(65536)
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    rest += self.sock.recv(65536)
                body += rest[:size]
                rest = rest[size + 2 :]
                if size == 0:
                    break
        else:
            body = rest
            while chunk := self.sock.recv(65536):
                body += chunk
        # An answer that says "Connection: close" must be followed by the close (waited
        # for); any other leaves the connection open for the next request.
        closing = headers.get("connection", "").lower() == "close"
        return RawAnswer(status, headers, body, closing and self.closed_by_server())

    def closed_by_server(self) -> bool:
        """Whether the server has closed the connection (waits up to the guard)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def multipart_start(
    fields: Mapping[str, str], file_field: str = "phone_list", content: bytes = b""
) -> tuple[bytes, bytes, str]:
    """(the body up to and into a file part, its end, the Content-Type): send the
    first, stall or trickle, and maybe send the end."""
    boundary = uuid.uuid4().hex
    start = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    )
    start += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        'filename="list.csv"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode() + content
    end = f"\r\n--{boundary}--\r\n".encode()
    return start, end, f"multipart/form-data; boundary={boundary}"


def file_first_start(fields: Mapping[str, str], content: bytes) -> tuple[bytes, bytes, str]:
    """Like ``multipart_start``, with the file part first and ``fields`` after it."""
    boundary = uuid.uuid4().hex
    start = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="phone_list"; '
        'filename="list.csv"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode() + content
    end = b"\r\n" + b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    )
    end += f"--{boundary}--\r\n".encode()
    return start, end, f"multipart/form-data; boundary={boundary}"
