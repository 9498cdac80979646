"""Fetching documents: the ``Fetcher`` seam, and its aiohttp implementation.

The interpreter asks for every document, script, grammar, audio file and submit through a
``Fetcher``; the application's one ``aiohttp.ClientSession`` (built in ``app.py``) goes into
``HttpFetcher``, tests pass ``testing.MemoryFetcher``. A failed fetch is a ``FetchError``
with a short reason, which the interpreter turns into ``error.badfetch`` (VoiceXML 2.0
section 5.2.6).

``HttpFetcher`` keeps an in-memory HTTP cache of GET responses, as VoiceXML 2.0 section
6.1.2 asks ("the VoiceXML interpreter context must follow the cache correctness rules of
HTTP 1.1"; RFC 9111 is the current text of those rules). One ``HttpFetcher`` serves every
call of the process, so the cache is a *shared* cache in RFC 9111's sense, and is careful
accordingly:

- stored: final status 200 to a GET, when neither the response nor a redirect on the way
  says ``no-store`` or ``private``, sets a cookie or varies on anything but
  Accept-Encoding, and no Authorization header went out (RFC 9111 section 3); and only
  when the copy can ever be used without a full download: it has a freshness lifetime or
  a validator (ETag, Last-Modified);
- freshness (section 4.2): ``s-maxage``, else ``max-age``, else ``Expires`` minus
  ``Date``; the age counts ``Age`` and the time in transit and in this cache. A redirect
  chain is cached under the URL asked for, as fresh as its least fresh hop: a 302
  without an explicit lifetime makes the copy stale at once, so it is revalidated each
  time (the conditional request follows the redirect to wherever it now leads);
- heuristic freshness (section 4.2.2), which RFC 9111 allows but does not require, only
  for a response with Last-Modified and no explicit lifetime, at 10 % of its age when
  served, capped at ``heuristic_max_s`` (5 minutes by default), and never for a URL with
  a query: those are answers from programs (a ``<submit method="get">`` or a start URL
  with fields), and RFC 2616 section 13.9 forbade it for them; RFC 9111 dropped that
  rule, but a stale prompt or document is played to a caller who cannot press reload.
  The cap bounds how long a replaced audio file keeps playing; a revalidation is one
  round trip with no body;
- ``no-cache`` (or, without Cache-Control, ``Pragma: no-cache``): revalidated at every
  use; ``must-revalidate``, ``proxy-revalidate`` and ``s-maxage`` forbid using a stale
  copy, whatever the document's maxstale;
- VoiceXML's maxage and maxstale (section 6.1.2.1) decide per request: a copy older than
  maxage is not used, a stale copy is used when its staleness is within maxstale. Both
  are also sent on as request Cache-Control so that caches on the way honour them;
- a stale copy is revalidated with If-None-Match / If-Modified-Since; a 304 refreshes its
  header fields and the same ``Document`` comes back; a successful POST to a URL drops
  the copies of that URL and of where it led (section 4.4).

No request collapsing: two calls missing the same URL at once both fetch it.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urldefrag, urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping
from yarl import URL

__all__ = [
    "CallFetcher",
    "Document",
    "FetchError",
    "FetchRequest",
    "Fetcher",
    "HttpFetcher",
    "Upload",
    "for_call",
]

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


@dataclass(frozen=True, slots=True)
class Upload:
    """One file part of a multipart/form-data submit (a ``<record>`` recording)."""

    filename: str
    content_type: str  # e.g. "audio/wav"
    body: bytes


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One request for a resource, with the fetch attributes of the element that asked.

    ``data`` and ``files`` are sent in the body when ``method`` is POST (a GET carries its
    data in ``url`` already), as ``enctype`` says; files force multipart/form-data, since a
    recording cannot be url-encoded. ``timeout_s`` is the fetchtimeout (None: the
    fetcher's default); ``maxage_s`` and ``maxstale_s`` are VoiceXML's maxage and maxstale
    (None: HTTP's rules alone decide whether a cached copy serves).
    """

    url: str
    method: str = "GET"
    data: Mapping[str, str] | None = None
    files: Mapping[str, Upload] | None = None
    enctype: str = URLENCODED
    timeout_s: float | None = None
    maxage_s: float | None = None
    maxstale_s: float | None = None


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
    """Fetches over HTTP(S) with a shared ``aiohttp.ClientSession`` (not closed here), and
    caches GET responses in memory for every call that uses it (see the module docstring).

    Redirects are followed; any final status outside 2xx, a timeout (the request's
    ``timeout_s``, else ``timeout_s`` here, for the whole exchange), a refused connection
    or a body larger than ``max_body_bytes`` is a ``FetchError``.

    The cache holds at most ``cache_max_bytes`` (bodies and header fields; 0 turns it off),
    dropping the least recently used copies first. ``clock`` gives wall-clock seconds since
    the epoch (it is compared with the servers' Date and Expires). The counters ``hits``
    (served from memory, no request), ``revalidations`` (conditional requests sent) and
    ``misses`` (GETs sent without a usable copy) only grow; ``cache_bytes`` is the size now.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 10.0,
        max_body_bytes: int = 4 * 1024 * 1024,
        cache_max_bytes: int = 64 * 1024 * 1024,
        heuristic_max_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._timeout_s = timeout_s
        self._max_body_bytes = max_body_bytes
        self._heuristic_max_s = heuristic_max_s
        self._clock = clock
        self._cache = _Lru(cache_max_bytes)
        self.hits = 0
        self.misses = 0
        self.revalidations = 0

    @property
    def cache_bytes(self) -> int:
        return self._cache.size_bytes

    def for_call(self) -> CallFetcher:
        """A view of this fetcher for one call, with the call's own cookies."""
        return CallFetcher(self)

    async def fetch(
        self, request: FetchRequest, *, cookies: aiohttp.CookieJar | None = None
    ) -> Document:
        """Fetch ``request``. With ``cookies`` (one call's jar), the cookies it holds for
        the URL are sent and those the response sets are kept in it; a request that
        sends cookies neither reads nor fills the shared cache (its answer may be
        personal)."""
        method = request.method.upper()
        sent = cookies.filter_cookies(URL(request.url)) if cookies is not None else None
        if method != "GET" or sent:
            exchange = await self._exchange(
                request, method, {}, cookies=cookies, sent_cookies=sent or None
            )
            if method == "GET":
                return exchange.document()
            # RFC 9111 section 4.4: a successful unsafe request invalidates what was cached
            # for its target and for where it led.
            self._cache.pop(_cache_key(request.url))
            self._cache.pop(_cache_key(exchange.url))
            return exchange.document()

        key = _cache_key(request.url)
        entry = self._cache.get(key)
        if entry is not None and entry.usable(self._clock(), request):
            self.hits += 1
            return entry.document
        headers = _request_directives(request)
        validators = entry.validators() if entry is not None else {}
        if entry is not None and validators:
            self.revalidations += 1
            headers.update(validators)
        else:
            self.misses += 1
        exchange = await self._exchange(
            request, "GET", headers, conditional=bool(validators), cookies=cookies
        )
        if exchange.status == 304 and entry is not None:
            if exchange.url != entry.document.url:
                # The redirect now leads elsewhere and that resource matched validators
                # taken from another: do not trust the coincidence, fetch it whole.
                self._cache.pop(key)
                self.misses += 1
                exchange = await self._exchange(request, "GET", _request_directives(request))
            else:
                self._keep(key, entry.document, exchange, _refreshed(entry.headers, exchange))
                return entry.document
        document = exchange.document()
        self._keep(key, document, exchange, exchange.headers)
        return document

    def _keep(
        self, key: str, document: Document, exchange: _Exchange, headers: CIMultiDict[str]
    ) -> None:
        """Store ``document`` under ``key`` if the exchange allows, else forget the key."""
        if self._cache.max_bytes <= 0 or not exchange.storable(headers):
            self._cache.pop(key)
            return
        policy = _Policy.combine(
            [
                _Policy.of(
                    headers,
                    exchange.request_time,
                    exchange.response_time,
                    heuristic_max_s=None if urlsplit(key).query else self._heuristic_max_s,
                ),
                *(
                    # Redirects get no heuristic lifetime: a 302 or 307 may not have one
                    # (RFC 9111 section 4.2.2), and a 301 seldom carries Last-Modified.
                    _Policy.of(hop, exchange.request_time, exchange.response_time)
                    for _, hop in exchange.hops
                ),
            ]
        )
        entry = _Entry(document, headers, policy)
        if policy.lifetime_s <= 0 and not entry.validators():
            self._cache.pop(key)  # it could never serve without downloading it again
            return
        self._cache.put(key, entry)

    async def _exchange(
        self,
        request: FetchRequest,
        method: str,
        headers: Mapping[str, str],
        *,
        conditional: bool = False,
        cookies: aiohttp.CookieJar | None = None,
        sent_cookies: Mapping[str, object] | None = None,
    ) -> _Exchange:
        timeout_s = self._timeout_s if request.timeout_s is None else request.timeout_s
        # aiohttp reads a total of 0 as "no timeout"; a fetchtimeout of 0s means "now".
        timeout = aiohttp.ClientTimeout(total=max(timeout_s, 0.001))
        body = _body(request) if method != "GET" else None
        request_time = self._clock()
        try:
            async with self._session.request(
                method,
                request.url,
                data=body,
                headers=headers or None,
                timeout=timeout,
                cookies=sent_cookies,  # type: ignore[arg-type]
            ) as response:
                response_time = self._clock()
                if cookies is not None:
                    for hop in (*response.history, response):
                        cookies.update_cookies(hop.cookies, hop.url)
                status = response.status
                if not (200 <= status < 300 or (conditional and status == 304)):
                    raise FetchError(f"HTTP {status}", status=status)
                content = b"" if status == 304 else await self._read(response)
                sent = [r.request_info.headers for r in (*response.history, response)]
                return _Exchange(
                    status=status,
                    url=str(response.url),
                    headers=CIMultiDict(response.headers),
                    body=content,
                    hops=tuple((hop.status, hop.headers) for hop in response.history),
                    authorized=any("Authorization" in each for each in sent),
                    request_time=request_time,
                    response_time=response_time,
                )
        except FetchError:
            raise
        except TimeoutError as exc:
            raise FetchError(f"timed out after {timeout_s:g} s") from exc
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


class CallFetcher:
    """One call's view of a shared ``HttpFetcher``: the same connections and cache, its
    own cookies (RFC 6265). An application's server session (a JSESSIONID, say) lives
    for its call only and never reaches another call's requests; the process-wide
    aiohttp session keeps no cookies (``app.py`` gives it a ``DummyCookieJar``)."""

    def __init__(self, fetcher: HttpFetcher) -> None:
        self._fetcher = fetcher
        # unsafe=True: keep cookies of IP-address hosts too (applications on loopback or
        # private addresses are common in self-hosted setups).
        self.cookies = aiohttp.CookieJar(unsafe=True)

    async def fetch(self, request: FetchRequest) -> Document:
        return await self._fetcher.fetch(request, cookies=self.cookies)


def for_call(fetcher: Fetcher) -> Fetcher:
    """The fetcher one call's session should use: its own cookies over an
    ``HttpFetcher``, any other fetcher as it is."""
    return fetcher.for_call() if isinstance(fetcher, HttpFetcher) else fetcher


def _body(request: FetchRequest) -> dict[str, str] | aiohttp.FormData | None:
    enctype = request.enctype.strip().lower()
    if request.files or enctype == MULTIPART:
        form = aiohttp.FormData(default_to_multipart=True)
        for name, value in (request.data or {}).items():
            form.add_field(name, value)
        for name, upload in (request.files or {}).items():
            form.add_field(
                name, upload.body, filename=upload.filename, content_type=upload.content_type
            )
        return form
    if enctype != URLENCODED:
        raise FetchError(f"unsupported enctype {request.enctype!r}")
    return dict(request.data) if request.data is not None else None


def _request_directives(request: FetchRequest) -> dict[str, str]:
    """maxage and maxstale as request Cache-Control (RFC 9111 section 5.2.1), which they
    were modelled on, so that a cache between here and the server honours them too."""
    directives = []
    if request.maxage_s is not None:
        directives.append(f"max-age={max(0, math.floor(request.maxage_s))}")
    if request.maxstale_s is not None:
        directives.append(f"max-stale={max(0, math.floor(request.maxstale_s))}")
    return {"Cache-Control": ", ".join(directives)} if directives else {}


def _cache_key(url: str) -> str:
    return urldefrag(url)[0]  # the fragment never reaches the server


@dataclass(frozen=True, slots=True)
class _Exchange:
    """What came back from one request, redirects followed."""

    status: int
    url: str  # the final URL
    headers: CIMultiDict[str]
    body: bytes
    hops: tuple[tuple[int, CIMultiDictProxy[str]], ...]  # the redirects: status, headers
    authorized: bool  # an Authorization header went out on the way
    request_time: float
    response_time: float

    def document(self) -> Document:
        return Document(self.url, self.body, self.headers.get("Content-Type"))

    def storable(self, final: CIMultiDict[str]) -> bool:
        """May a shared cache keep this (``final``: the final response's header fields)?"""
        if self.status not in (200, 304):
            return False  # 203, 204, 206 and the like: not worth the rules they bring
        if self.authorized:
            # RFC 9111 section 3.5 lets a shared cache keep an authorized response marked
            # public, s-maxage or must-revalidate, but this cache answers every call and
            # every campaign: one caller's credentials must not fetch for another.
            return False
        return all(_storable(headers) for _, headers in self.hops) and _storable(final)


def _storable(headers: MultiMapping[str]) -> bool:
    directives = _cache_control(headers)
    if "no-store" in directives or "private" in directives:
        # private: meant for one user; this cache serves all calls (RFC 9111 5.2.2.7).
        return False
    if "Set-Cookie" in headers:
        # The cookie belongs to whoever made this request; replaying the response would
        # hand it, or a page built for it, to other callers.
        return False
    # Every request from here carries the same Accept-Encoding (aiohttp's own), so a copy
    # varying on it alone still matches; other request fields (Cookie, Accept-Language)
    # are not ours to compare, and "*" never matches (RFC 9111 section 4.1).
    varied = {name.strip().lower() for name in _field_values(headers, "Vary")}
    return varied <= {"accept-encoding", ""}


@dataclass(frozen=True, slots=True)
class _Policy:
    """How long a stored response serves and how: RFC 9111 section 4.2."""

    lifetime_s: float  # freshness lifetime
    initial_age_s: float  # corrected_initial_age (section 4.2.3)
    response_time: float
    no_cache: bool  # revalidate at every use
    must_revalidate: bool  # never serve it stale

    @staticmethod
    def of(
        headers: MultiMapping[str],
        request_time: float,
        response_time: float,
        *,
        heuristic_max_s: float | None = None,
    ) -> _Policy:
        directives = _cache_control(headers)
        date = _http_date(headers.get("Date"))
        date_s = date if date is not None else response_time
        lifetime_s: float
        # A malformed lifetime or age makes the copy stale: RFC 9111 section 4.2.1 says
        # to consider the response stale when in doubt.
        if "s-maxage" in directives:  # a shared cache's own max-age (section 5.2.2.10)
            lifetime_s = _delta_seconds(directives["s-maxage"]) or 0.0
        elif "max-age" in directives:
            lifetime_s = _delta_seconds(directives["max-age"]) or 0.0
        elif "Expires" in headers:
            # An invalid date, "0" above all, is a time in the past (section 5.3).
            expires = _http_date(headers.get("Expires"))
            lifetime_s = expires - date_s if expires is not None else 0.0
        elif heuristic_max_s is not None and "Last-Modified" in headers:
            modified = _http_date(headers.get("Last-Modified"))
            age_when_served = date_s - modified if modified is not None else 0.0
            lifetime_s = min(0.1 * max(0.0, age_when_served), heuristic_max_s)
        else:
            lifetime_s = 0.0
        age_value = _delta_seconds(headers.get("Age", "0"))
        if age_value is None:
            age_value = math.inf
        apparent_age = max(0.0, response_time - date_s)
        corrected_age = age_value + (response_time - request_time)
        no_cache = "no-cache" in directives or (
            "Cache-Control" not in headers
            and any(v.strip().lower() == "no-cache" for v in _field_values(headers, "Pragma"))
        )
        return _Policy(
            lifetime_s=lifetime_s,
            initial_age_s=max(apparent_age, corrected_age),
            response_time=response_time,
            no_cache=no_cache,
            must_revalidate=bool(
                {"must-revalidate", "proxy-revalidate", "s-maxage"} & directives.keys()
            ),
        )

    @staticmethod
    def combine(policies: Iterable[_Policy]) -> _Policy:
        """A redirect chain is as fresh as its least fresh hop, and as strict as its
        strictest."""
        each = list(policies)
        return _Policy(
            lifetime_s=min(p.lifetime_s for p in each),
            initial_age_s=max(p.initial_age_s for p in each),
            response_time=each[0].response_time,
            no_cache=any(p.no_cache for p in each),
            must_revalidate=any(p.must_revalidate for p in each),
        )


@dataclass(frozen=True, slots=True)
class _Entry:
    document: Document
    headers: CIMultiDict[str]  # the final response's, as refreshed by 304s
    policy: _Policy

    @property
    def size_bytes(self) -> int:
        fields = sum(len(name) + len(value) for name, value in self.headers.items())
        return len(self.document.body) + fields

    def usable(self, now: float, request: FetchRequest) -> bool:
        """VoiceXML 2.0 section 6.1.2.1, within what HTTP allows: a copy older than the
        request's maxage is fetched again; a stale one is used only within maxstale."""
        policy = self.policy
        if policy.no_cache:
            return False
        age = policy.initial_age_s + (now - policy.response_time)
        if request.maxage_s is not None and (age > request.maxage_s or request.maxage_s <= 0):
            # maxage="0" is how an author asks for the server's copy every time, even in
            # the instant (with a coarse or fake clock) a copy's age still reads zero.
            return False
        staleness = age - policy.lifetime_s
        if staleness < 0:
            return True
        if policy.must_revalidate:
            return False
        return request.maxstale_s is not None and staleness <= request.maxstale_s

    def validators(self) -> dict[str, str]:
        """Conditional request fields for revalidating this copy (RFC 9110 13.1)."""
        fields = {}
        if "ETag" in self.headers:
            fields["If-None-Match"] = self.headers["ETag"]
        if "Last-Modified" in self.headers:
            fields["If-Modified-Since"] = self.headers["Last-Modified"]
        return fields


# Kept from the stored response when a 304 refreshes it: they describe the stored body,
# which a 304 does not carry (RFC 9111 section 3.2).
_NOT_REFRESHED = frozenset(
    {"content-length", "content-type", "content-encoding", "content-range", "transfer-encoding"}
)


def _refreshed(stored: CIMultiDict[str], exchange: _Exchange) -> CIMultiDict[str]:
    headers = CIMultiDict(stored)
    for name in {name.lower() for name in exchange.headers}:
        if name not in _NOT_REFRESHED:
            headers.popall(name, None)
            headers.extend((name, value) for value in exchange.headers.getall(name))
    return headers


class _Lru:
    """Copies by URL, least recently used first, within ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: _Entry) -> None:
        self.pop(key)
        if entry.size_bytes > self.max_bytes:
            return
        self._entries[key] = entry
        self.size_bytes += entry.size_bytes
        while self.size_bytes > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self.size_bytes -= oldest.size_bytes

    def pop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size_bytes -= entry.size_bytes


# One directive: a token, then maybe "=" and a token or a quoted string (which may hold
# commas, as in no-cache="Set-Cookie, Foo").
_DIRECTIVE = re.compile(r'([^\s=,]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?')


def _cache_control(headers: MultiMapping[str]) -> dict[str, str | None]:
    """Cache-Control directives by lower-case name; the first of repeated ones wins."""
    directives: dict[str, str | None] = {}
    for line in _field_values(headers, "Cache-Control", split=False):
        for match in _DIRECTIVE.finditer(line):
            name, value = match.group(1).lower(), match.group(2)
            directives.setdefault(name, value.strip('"') if value is not None else None)
    return directives


def _field_values(headers: MultiMapping[str], name: str, *, split: bool = True) -> list[str]:
    """Every value of a field, its lines split at commas unless ``split`` is False."""
    lines = headers.getall(name, [])
    if not split:
        return list(lines)
    return [value for line in lines for value in line.split(",")]


def _delta_seconds(value: str | None) -> float | None:
    """delta-seconds (RFC 9111 section 1.2.2), or None when missing or malformed."""
    text = (value or "").strip()
    return float(text) if text.isdigit() else None


def _http_date(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
