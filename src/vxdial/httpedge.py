"""The HTTP server's own guards against slow and oversized requests (docs/SECURITY.md).

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but, with httptools,
has no read timeout for a request's head or body and no bound on a head's size: a client
sending half a head, or a multipart body a byte a minute, held its connection (and an
upload slot) as long as it liked. Two guards close that, each where it can see what it
needs:

- ``GuardedHttpToolsProtocol``, uvicorn's httptools protocol with a **head deadline**
  and a **head size limit**. Only the protocol sees a head before it is complete (the
  application is called once it is); h11's ``h11_max_incomplete_event_size`` bounds a
  head's size but not its time, and the h11 protocol is several times slower.
- ``BodyGuard``, ASGI middleware with a **body idle timeout** and a **minimum body
  rate**. The body is timed where the application waits for it (its ``receive()``), so
  only the client's slowness counts: time the application spends elsewhere (a PIN
  check, a database write) while uvicorn's flow control pauses reading is not charged
  to the client, as a timer in the protocol would. Like Apache's mod_reqtimeout
  (``body=20,MinRate=500``), the allowance grows with what arrives: ``body_timeout_s``
  plus one second per ``min_body_bytes_per_s`` bytes received. A request past it is
  answered at once by the guard (an answer in the edge's own format, then the
  connection is closed) and the application is told the client left
  (``http.disconnect``), so it stops and frees what it holds.

``BodyGuard`` also closes a connection whose request body was not read to its end by
the time the answer starts (a refusal before reading, a 413): uvicorn would otherwise
keep reading and discarding the rest of the body, however slowly it came.

Network timeouts use the event loop's clock, not ``domain.clock``: they are about real
sockets, and a test's fake clock must not stop them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vxdial.config import ServerSettings

TimeoutAnswer = Callable[[Scope, str], Response]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit for request heads.

    The deadline runs from the moment the server waits for a request (the connection
    opened, or the previous answer was sent) and starts again at the request's first
    byte; it ends when the head is complete. A connection that never sent a byte is
    closed silently; one whose head had begun gets 408. A head larger than
    ``max_header_bytes`` gets 431. Either way the connection is closed.
    """

    header_timeout_s: float = 10.0
    max_header_bytes: int = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # between a request's first byte and its complete head
        self._head_bytes = 0
        self._refused = False

    # -- the deadline --

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        serving = self.cycle is not None and not self.cycle.response_complete
        if self._in_head and not serving:
            self._refuse(408, "the request head did not arrive in time")
        elif not serving:
            self.transport.close()  # waited for a request that never began
        elif self._in_head:
            self.transport.close()  # a pipelined head, stalled behind a request served

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        if self._refused:
            return  # the rest of a refused head's packet: no request is served
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._in_head:
            self._arm_head_timer()  # the next request's head, if one comes

    # -- the size --

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_header_bytes and not self._refused:
            self._refuse(431, f"the request head is larger than {self.max_header_bytes} bytes")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # after a refusal, whatever else comes is dropped with the connection
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            return  # our own refusal, already sent
        super().send_400_response(msg)

    def _refuse(self, status: int, reason: str) -> None:
        self._refused = True
        self._cancel_head_timer()
        body = reason.encode()
        head = [f"HTTP/1.1 {status} {_REASONS[status]}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()


_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


def protocol_class(settings: ServerSettings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with ``settings``' head limits (uvicorn builds one per
    connection with its own arguments, so the limits ride on the class)."""
    return type(
        "VxdialHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "max_header_bytes": settings.max_header_bytes,
        },
    )


def server_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's options for ``settings`` (``uvicorn.run`` and ``uvicorn.Config`` take
    them alike): the guarded protocol, the keep-alive timeout. ``vxdial serve`` and the
    tests' servers both use them."""
    return {"http": protocol_class(settings), "timeout_keep_alive": settings.keep_alive_s}


class BodyGuard:
    """ASGI middleware timing request bodies (see the module's docstring).

    ``timeout_answer(scope, reason)`` is the answer a request gets when its body is too
    slow, in its edge's format; the guard adds ``Connection: close``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        body_timeout_s: float,
        min_body_bytes_per_s: int,
        timeout_answer: TimeoutAnswer,
    ) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        self.min_body_bytes_per_s = min_body_bytes_per_s
        self.timeout_answer = timeout_answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guarded = _GuardedRequest(self, scope, receive, send)
        await self.app(scope, guarded.receive, guarded.send)


class _GuardedRequest:
    def __init__(self, guard: BodyGuard, scope: Scope, receive: Receive, send: Send) -> None:
        self._guard = guard
        self._scope = scope
        self._receive = receive
        self._send = send
        self._body_done = not _has_body(scope)
        self._received = 0
        self._waited_s = 0.0
        self._started = False
        self._answered = False  # the guard answered: the application's answer is dropped

    async def receive(self) -> Message:
        if self._answered:
            return {"type": "http.disconnect"}
        if self._body_done:
            return await self._receive()  # e.g. a streaming answer listening for a disconnect
        guard = self._guard
        allowance = guard.body_timeout_s + self._received / guard.min_body_bytes_per_s
        by_rate = allowance - self._waited_s < guard.body_timeout_s  # which limit is nearer
        wait_s = min(guard.body_timeout_s, allowance - self._waited_s)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            if wait_s <= 0:
                raise TimeoutError
            async with asyncio.timeout(wait_s):
                message = await self._receive()
        except TimeoutError:
            self._waited_s += loop.time() - began
            if by_rate:
                reason = (
                    f"the request body came slower than {guard.min_body_bytes_per_s} bytes a second"
                )
            else:
                reason = f"the request body stopped for {guard.body_timeout_s:g} seconds"
            await self._answer_timeout(reason)
            return {"type": "http.disconnect"}
        self._waited_s += loop.time() - began
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self._body_done = True
        else:
            self._body_done = True  # the client left: no more body
        return message

    async def send(self, message: Message) -> None:
        if self._answered:
            return
        if message["type"] == "http.response.start":
            self._started = True
            if not self._body_done:
                message = _closing(message)
        await self._send(message)

    async def _answer_timeout(self, reason: str) -> None:
        self._answered = True
        if self._started:
            return  # an answer is under way; it closes the connection (see send)
        response = self._guard.timeout_answer(self._scope, reason)
        response.headers["connection"] = "close"

        async def nothing_more() -> Message:
            return {"type": "http.disconnect"}

        await response(self._scope, nothing_more, self._send)


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def _closing(start: Message) -> Message:
    """``start`` with ``Connection: close``."""
    headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"connection"]
    headers.append((b"connection", b"close"))
    return {**start, "headers": headers}


PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the application takes at ``request``'s path (the
    ``Allow`` of a 405: Starlette's names only the first route matching the path, but
    ``/api/v1/calls`` is two routes, GET and POST). Each method is tried against the
    routes as the router would (``BaseRoute.matches``), included routers too."""
    routes: list[BaseRoute] = request.app.router.routes
    return [
        method
        for method in PROBED_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
