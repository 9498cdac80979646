"""Fetching a session's start document: the start_url POST, with a GET fallback.

vxdial POSTs the call's fields to start_url on answer (PRODUCT.md section 3), but a
VoiceXML file served by a static file server cannot take a POST: Python's
``http.server`` answers 501 (Not Implemented), nginx 405 (Method Not Allowed). Both say
"not this method", not "no such document" (RFC 9110 sections 15.5.6 and 15.6.2), so the
document is fetched once more with GET and the same fields in the query string, which a
static server ignores and an application can still read. Any other failure stands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import urldefrag, urlencode

from vxdial.voicexml.fetch import Document, Fetcher, FetchError, FetchRequest

__all__ = ["METHOD_REFUSED", "StartFetcher", "with_query"]

# The statuses that mean the server refuses POST itself (RFC 9110: 405 Method Not Allowed,
# 501 Not Implemented).
METHOD_REFUSED = frozenset({405, 501})

# Told the status that refused the POST and the URL fetched with GET instead.
OnFallback = Callable[[int, str], None]


class StartFetcher:
    """A ``Fetcher`` for one session: the start document's POST falls back to GET.

    The first POST of ``start``'s URL (without its fragment) and fields is the start
    request; when it fails with a status in ``METHOD_REFUSED``, ``on_fallback(status,
    get_url)`` is told and the document is fetched with GET, ``start``'s fields added to
    the URL's query. Every other request goes to ``fetcher`` unchanged, as do later POSTs
    of the same URL (an application's own ``<submit method="post">`` gets what it asked
    for).
    """

    def __init__(self, fetcher: Fetcher, start: FetchRequest, on_fallback: OnFallback) -> None:
        self._fetcher = fetcher
        self._url = urldefrag(start.url)[0]
        self._data = dict(start.data or {})
        self._on_fallback = on_fallback
        self._pending = start.method.upper() == "POST"

    async def fetch(self, request: FetchRequest) -> Document:
        if not (self._pending and self._is_start(request)):
            return await self._fetcher.fetch(request)
        self._pending = False
        try:
            return await self._fetcher.fetch(request)
        except FetchError as exc:
            if exc.status not in METHOD_REFUSED:
                raise
            status = exc.status
        get = replace(
            request,
            url=with_query(request.url, request.data or {}),
            method="GET",
            data=None,
            files=None,
        )
        self._on_fallback(status, get.url)
        return await self._fetcher.fetch(get)

    def _is_start(self, request: FetchRequest) -> bool:
        return (
            request.method.upper() == "POST"
            and not request.files
            and urldefrag(request.url)[0] == self._url
            and dict(request.data or {}) == self._data
        )


def with_query(url: str, fields: Mapping[str, str]) -> str:
    """``url`` with ``fields`` added to its query string, form-encoded (as a
    ``<submit method="get">`` sends them), after what the query already holds; the
    fragment stays."""
    if not fields:
        return url
    base, fragment = urldefrag(url)
    separator = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(fields)}" + (f"#{fragment}" if fragment else "")
