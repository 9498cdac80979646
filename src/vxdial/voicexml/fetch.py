"""Fetching documents: the ``Fetcher`` seam, and its aiohttp implementation.

The interpreter asks for every document, script and submit through a ``Fetcher``; the
application's one ``aiohttp.ClientSession`` (built in ``app.py``) goes into ``HttpFetcher``,
tests pass ``testing.MemoryFetcher``. A failed fetch is a ``FetchError`` with a short
reason, which the interpreter turns into ``error.badfetch`` (VoiceXML 2.0 section 5.2.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

__all__ = ["Document", "FetchError", "FetchRequest", "Fetcher", "HttpFetcher"]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One request for a document: ``data`` is sent form-encoded when ``method`` is POST
    (a GET carries its data in ``url`` already)."""

    url: str
    method: str = "GET"
    data: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A fetched resource. ``url`` is where it was finally found (after redirects): relative
    URIs inside it resolve against that."""

    url: str
    body: bytes
    content_type: str | None = None


class FetchError(Exception):
    """The resource could not be fetched; ``reason`` says why in a few words ("HTTP 404",
    "timed out after 10 s", "connection refused"). ``status`` is the HTTP status code
    when the server answered with an error."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Fetcher(Protocol):
    async def fetch(self, request: FetchRequest) -> Document:
        """Fetch ``request``; raises ``FetchError`` (and nothing else) when it fails."""
        ...


class HttpFetcher:
    """Fetches over HTTP(S) with a shared ``aiohttp.ClientSession`` (not closed here).

    Redirects are followed; any final status outside 2xx, a timeout (``timeout_s`` for the
    whole exchange), a refused connection or a body larger than ``max_body_bytes`` is a
    ``FetchError``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 10.0,
        max_body_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._session = session
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_body_bytes = max_body_bytes

    async def fetch(self, request: FetchRequest) -> Document:
        method = request.method.upper()
        data = dict(request.data) if request.data is not None and method == "POST" else None
        try:
            async with self._session.request(
                method, request.url, data=data, timeout=self._timeout
            ) as response:
                if not 200 <= response.status < 300:
                    raise FetchError(f"HTTP {response.status}", status=response.status)
                body = await self._read(response)
                return Document(
                    url=str(response.url),
                    body=body,
                    content_type=response.headers.get("Content-Type"),
                )
        except FetchError:
            raise
        except TimeoutError as exc:
            raise FetchError(f"timed out after {self._timeout_s:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                raise FetchError("connection refused") from exc
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                raise FetchError(f"cannot resolve host {exc.host!r}") from exc
            raise FetchError(f"cannot connect: {exc.os_error.strerror or exc}") from exc
        except aiohttp.TooManyRedirects as exc:
            raise FetchError("too many redirects") from exc
        except aiohttp.InvalidURL as exc:
            raise FetchError(f"invalid URL {request.url!r}") from exc
        except aiohttp.ClientError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        except ValueError as exc:
            # aiohttp raises ValueError for URLs it cannot use (no host, odd scheme).
            raise FetchError(f"cannot fetch {request.url!r}: {exc}") from exc

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        too_large = FetchError(f"larger than {self._max_body_bytes} bytes")
        if (response.content_length or 0) > self._max_body_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_body_bytes:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)
