"""The JSON API's guard against requests a browser is made to send (issue 12, item 16),
and its net for error answers not in the API's shape.

The API authenticates with HTTP Basic, which browsers cache and send again by
themselves: a page of another site could make a visitor's browser POST to
``/api/v1/me/rotate-secret`` (or upload a campaign with a hidden form) with the
visitor's login. Browsers mark such requests, and programs (curl, the customers'
integrations) never do, so the guard refuses what carries a browser's mark of another
site, and keeps every existing client working without a new header:

- ``Sec-Fetch-Site: cross-site`` or ``same-site`` (Fetch Metadata, sent by every
  current browser) on a state-changing method: 403;
- without ``Sec-Fetch-Site``, an ``Origin`` that is not this server's own: 403 (every
  browser sends ``Origin`` on a cross-origin POST);
- a non-empty body of a type a cross-site form can send without asking the server first
  (``text/plain``, ``application/x-www-form-urlencoded``, ``multipart/form-data``: the
  CORS-safelisted types) on an operation that does not take it: 415. Only
  ``POST /api/v1/campaigns`` takes one (multipart, as queuecalls.php); the API's other
  bodies are JSON, which a browser sends cross-site only after a CORS preflight, and
  vxdial answers no preflight.

Requiring a custom header or a JSON content type on bodyless posts would have done the
same, but would break every client that posts ``pause`` with a bare ``curl -X POST``.
The Plum services are not guarded: they authenticate with fields of the body, which no
browser fills in by itself.

The net: an error answer under ``/api/`` that is not JSON (Starlette's own 413 of a
body limit, say) is rewritten as ``{"errors": [{"field": "request", "reason": ...}]}``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
FORM_TYPES = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
# (method, path) of the operations that take a body of one of FORM_TYPES, and which.
TAKES_FORM = {("POST", "/api/v1/campaigns"): "multipart/form-data"}
OTHER_SITE = (
    "a page of another site had a browser send this request; the API takes requests "
    "from programs (or from this server's own pages)"
)
NET_BODY_MAX = 64 * 1024  # an error answer rewritten by the net is held this large at most


class ApiGuard:
    """ASGI middleware for the paths under ``/api/`` (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        refusal = refused(scope)
        if refusal is not None:
            status, field, reason = refusal
            await _send_errors(send, status, field, reason)
            return
        await self.app(scope, receive, _ErrorNet(send).send)


def refused(scope: Scope) -> tuple[int, str, str] | None:
    """(status, field, reason) if the request is to be refused, else None."""
    method = scope.get("method", "GET")
    if method in SAFE_METHODS:
        return None
    headers = Headers(scope=scope)
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return 403, "Sec-Fetch-Site", OTHER_SITE
    origin = headers.get("origin")
    if not fetch_site and origin is not None and not _same_origin(origin, headers.get("host")):
        return 403, "Origin", OTHER_SITE
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES and _has_body(headers):
        taken = TAKES_FORM.get((method, scope.get("path", "")))
        if taken != content_type:
            takes = f"takes {taken}" if taken else "takes a JSON body (application/json) or none"
            return (
                415,
                "Content-Type",
                f"{content_type} is not accepted here: this operation {takes}",
            )
    return None


def _same_origin(origin: str, host: str | None) -> bool:
    if host is None or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


async def _send_errors(send: Send, status: int, field: str, reason: str) -> None:
    body = json.dumps({"errors": [{"field": field, "reason": reason}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _ErrorNet:
    """Passes answers through; an error answer that is not JSON is held and rewritten."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._held: Message | None = None
        self._body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if message["status"] >= 400 and not media.endswith("json"):
                self._held = message
                return
        elif self._held is not None and message["type"] == "http.response.body":
            if len(self._body) < NET_BODY_MAX:
                self._body += message.get("body", b"")[: NET_BODY_MAX - len(self._body)]
            if message.get("more_body", False):
                return
            await self._rewrite()
            return
        await self._send(message)

    async def _rewrite(self) -> None:
        assert self._held is not None
        reason = self._body.decode("utf-8", "replace").strip() or "the request was refused"
        body = json.dumps({"errors": [{"field": "request", "reason": reason}]}).encode()
        kept = [
            (name, value)
            for name, value in self._held.get("headers", [])
            if name.lower() not in (b"content-type", b"content-length")
        ]
        kept += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await self._send({**self._held, "headers": kept})
        await self._send({"type": "http.response.body", "body": body})
