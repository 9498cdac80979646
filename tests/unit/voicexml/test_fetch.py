"""vxdial.voicexml.fetch: HttpFetcher against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate

import aiohttp
import pytest
from aiohttp import web

from vxdial import voicexml
from vxdial.voicexml.testing import ScriptedChannel

DOC = b'<vxml version="2.1"><form><block>Hello from the server.</block></form></vxml>'


async def start_page(request: web.Request) -> web.Response:
    return web.Response(body=DOC, content_type="application/voicexml+xml")


async def echo(request: web.Request) -> web.Response:
    form = await request.post()
    fields = " ".join(f"{k}={v!s}" for k, v in sorted(form.items()))
    body = f"""<vxml version="2.1"><form><block>{request.method} {fields}
        {request.query_string}</block></form></vxml>"""
    return web.Response(text=body, content_type="text/xml")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/app/moved/start.vxml")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)  # cancelled when the server stops
    return web.Response(body=DOC)


async def big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * 2000)


async def streamed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()  # chunked: no Content-Length
    await response.prepare(request)
    for _ in range(40):
        await response.write(b"y" * 10_000)
    await response.write_eof()
    return response


async def broken(request: web.Request) -> web.Response:
    return web.Response(status=500, text="oops")


async def upload(request: web.Request) -> web.Response:
    """Describes a multipart body: each field, and each file's name, type and bytes."""
    form = await request.post()
    parts = []
    for name, value in sorted(form.items()):
        if isinstance(value, web.FileField):
            parts.append(f"{name}:{value.filename}:{value.content_type}:{value.file.read()!r}")
        else:
            parts.append(f"{name}={value!s}")
    return web.Response(text=f"{request.content_type} " + " ".join(parts))


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/app/start.vxml", start_page)
    app.router.add_get("/app/moved/start.vxml", start_page)
    app.router.add_route("*", "/app/echo", echo)
    app.router.add_get("/app/redirect", redirect)
    app.router.add_get("/app/slow", slow)
    app.router.add_get("/app/big", big)
    app.router.add_get("/app/streamed", streamed)
    app.router.add_get("/app/broken", broken)
    app.router.add_post("/app/upload", upload)
    runner = web.AppRunner(app, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_get(server: str, http: aiohttp.ClientSession) -> None:
    fetcher = voicexml.HttpFetcher(http)
    document = await fetcher.fetch(voicexml.FetchRequest(f"{server}/app/start.vxml"))
    assert document == voicexml.Document(
        f"{server}/app/start.vxml", DOC, "application/voicexml+xml"
    )


async def test_post_is_form_encoded(server: str, http: aiohttp.ClientSession) -> None:
    fetcher = voicexml.HttpFetcher(http)
    request = voicexml.FetchRequest(f"{server}/app/echo", "POST", {"a": "1 2", "b": "&"})
    document = await fetcher.fetch(request)
    assert b"POST a=1 2 b=&" in document.body


async def test_redirect_gives_the_final_url(server: str, http: aiohttp.ClientSession) -> None:
    document = await voicexml.HttpFetcher(http).fetch(
        voicexml.FetchRequest(f"{server}/app/redirect")
    )
    assert document.url == f"{server}/app/moved/start.vxml"


@pytest.mark.parametrize(
    ("path", "reason", "status"),
    [("/app/missing", "HTTP 404", 404), ("/app/broken", "HTTP 500", 500)],
)
async def test_http_errors(
    server: str, http: aiohttp.ClientSession, path: str, reason: str, status: int
) -> None:
    with pytest.raises(voicexml.FetchError) as caught:
        await voicexml.HttpFetcher(http).fetch(voicexml.FetchRequest(server + path))
    assert (caught.value.reason, caught.value.status) == (reason, status)


async def test_timeout(server: str, http: aiohttp.ClientSession) -> None:
    fetcher = voicexml.HttpFetcher(http, timeout_s=0.1)
    with pytest.raises(voicexml.FetchError) as caught:
        await fetcher.fetch(voicexml.FetchRequest(f"{server}/app/slow"))
    assert caught.value.reason == "timed out after 0.1 s"


async def test_connection_refused(http: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(voicexml.FetchError) as caught:
        await voicexml.HttpFetcher(http).fetch(voicexml.FetchRequest(f"http://127.0.0.1:{port}/"))
    assert caught.value.reason == "connection refused"


async def test_body_too_large(server: str, http: aiohttp.ClientSession) -> None:
    fetcher = voicexml.HttpFetcher(http, max_body_bytes=1000)
    with pytest.raises(voicexml.FetchError) as caught:
        await fetcher.fetch(voicexml.FetchRequest(f"{server}/app/big"))
    assert caught.value.reason == "larger than 1000 bytes"


async def test_long_bodies_are_read_whole_and_limited(
    server: str, http: aiohttp.ClientSession
) -> None:
    document = await voicexml.HttpFetcher(http).fetch(
        voicexml.FetchRequest(f"{server}/app/streamed")
    )
    assert document.body == b"y" * 400_000
    fetcher = voicexml.HttpFetcher(http, max_body_bytes=100_000)
    with pytest.raises(voicexml.FetchError) as caught:
        await fetcher.fetch(voicexml.FetchRequest(f"{server}/app/streamed"))
    assert caught.value.reason == "larger than 100000 bytes"


async def test_unusable_url(http: aiohttp.ClientSession) -> None:
    with pytest.raises(voicexml.FetchError) as caught:
        await voicexml.HttpFetcher(http).fetch(voicexml.FetchRequest("file:///etc/passwd"))
    assert "file:///etc/passwd" in caught.value.reason


async def test_a_session_over_http(server: str, http: aiohttp.ClientSession) -> None:
    channel = ScriptedChannel()
    body = f"""<vxml version="2.1"><form><block>
        <submit next="{server}/app/echo" method="post" namelist="session.call_id"/>
      </block></form></vxml>"""
    fetcher = voicexml.HttpFetcher(http)

    class First:
        async def fetch(self, request: voicexml.FetchRequest) -> voicexml.Document:
            if request.url == "http://start/":
                return voicexml.Document(request.url, body.encode())
            return await fetcher.fetch(request)

    end = await voicexml.run_session(
        voicexml.FetchRequest("http://start/"),
        channel=channel,
        fetcher=First(),
        session={"call_id": 7},
    )
    assert end.reason == "end"
    assert channel.heard == ["POST session.call_id=7"]


# -- submits -------------------------------------------------------------------------------


async def test_post_with_a_recording_is_multipart(server: str, http: aiohttp.ClientSession) -> None:
    request = voicexml.FetchRequest(
        f"{server}/app/upload",
        "POST",
        {"call_id": "7"},
        files={"msg": voicexml.Upload("msg.wav", "audio/wav", b"RIFF\x00\x01wav")},
    )
    document = await voicexml.HttpFetcher(http).fetch(request)
    assert document.body.decode() == (
        "multipart/form-data call_id=7 msg:msg.wav:audio/wav:b'RIFF\\x00\\x01wav'"
    )


async def test_post_multipart_without_files(server: str, http: aiohttp.ClientSession) -> None:
    request = voicexml.FetchRequest(
        f"{server}/app/upload", "POST", {"a": "1 2"}, enctype="multipart/form-data"
    )
    document = await voicexml.HttpFetcher(http).fetch(request)
    assert document.body.decode() == "multipart/form-data a=1 2"


async def test_post_url_encoded_by_default(server: str, http: aiohttp.ClientSession) -> None:
    request = voicexml.FetchRequest(f"{server}/app/upload", "POST", {"a": "1 2", "b": "&"})
    document = await voicexml.HttpFetcher(http).fetch(request)
    assert document.body.decode() == "application/x-www-form-urlencoded a=1 2 b=&"


async def test_unsupported_enctype(server: str, http: aiohttp.ClientSession) -> None:
    request = voicexml.FetchRequest(f"{server}/app/upload", "POST", {"a": "1"}, enctype="text/x")
    with pytest.raises(voicexml.FetchError) as caught:
        await voicexml.HttpFetcher(http).fetch(request)
    assert caught.value.reason == "unsupported enctype 'text/x'"


async def test_timeout_per_request(server: str, http: aiohttp.ClientSession) -> None:
    fetcher = voicexml.HttpFetcher(http, timeout_s=30)
    with pytest.raises(voicexml.FetchError) as caught:
        await fetcher.fetch(voicexml.FetchRequest(f"{server}/app/slow", timeout_s=0.1))
    assert caught.value.reason == "timed out after 0.1 s"


# -- caching -------------------------------------------------------------------------------


class FakeTime:
    """Wall-clock seconds that start now (the server's Date is real) and move on demand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def http_date(clock: FakeTime, offset_s: float = 0.0) -> str:
    return formatdate(clock.now + offset_s, usegmt=True)


@dataclass
class Resource:
    """What the origin serves at one path; ``etag`` and ``last_modified`` answer
    conditional requests with 304 (carrying ``headers`` again, as servers do)."""

    body: bytes = DOC
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


@dataclass
class Origin:
    """A loopback server whose resources a test sets, and which logs what reached it.
    Its Date follows the test's clock, as a server's follows real time."""

    clock: FakeTime
    url: str = ""
    resources: dict[str, Resource] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.seen]

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path_qs, dict(request.headers)))
        resource = self.resources.get(request.path)
        if resource is None:
            return web.Response(status=404)
        if request.method != "GET":
            return web.Response(text="posted")
        headers = {"Date": http_date(self.clock), **resource.headers}
        if resource.etag is not None:
            headers["ETag"] = resource.etag
        if resource.last_modified is not None:
            headers["Last-Modified"] = resource.last_modified
        matched = (
            resource.etag is not None and request.headers.get("If-None-Match") == resource.etag
        ) or (
            resource.etag is None
            and resource.last_modified is not None
            and request.headers.get("If-Modified-Since") == resource.last_modified
        )
        if matched:
            return web.Response(status=304, headers=headers)
        return web.Response(status=resource.status, body=resource.body, headers=headers)


@pytest.fixture
async def origin(clock: FakeTime) -> AsyncIterator[Origin]:
    origin = Origin(clock)
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", origin.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield origin
    finally:
        await runner.cleanup()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fetcher(http: aiohttp.ClientSession, clock: FakeTime) -> voicexml.HttpFetcher:
    return voicexml.HttpFetcher(http, clock=clock)


def counters(fetcher: voicexml.HttpFetcher) -> tuple[int, int, int]:
    return fetcher.hits, fetcher.misses, fetcher.revalidations


async def test_fresh_copy_is_served_without_a_request(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"})
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    first = await fetcher.fetch(request)
    clock.advance(50)
    again = await fetcher.fetch(request)
    assert again is first
    assert origin.paths() == ["/a.vxml"]
    assert counters(fetcher) == (1, 1, 0)
    assert fetcher.cache_bytes > len(DOC)


async def test_fragment_is_not_part_of_the_key(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"})
    await fetcher.fetch(voicexml.FetchRequest(f"{origin.url}/a.vxml#one"))
    await fetcher.fetch(voicexml.FetchRequest(f"{origin.url}/a.vxml#two"))
    assert origin.paths() == ["/a.vxml"]


async def test_stale_copy_is_revalidated_by_etag(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    first = await fetcher.fetch(request)
    clock.advance(61)
    assert await fetcher.fetch(request) is first  # 304: the same document
    assert origin.seen[-1][2]["If-None-Match"] == '"v1"'
    clock.advance(30)  # the 304 made it fresh again for 60 s
    assert await fetcher.fetch(request) is first
    assert origin.paths() == ["/a.vxml", "/a.vxml"]
    assert counters(fetcher) == (1, 1, 1)


async def test_stale_copy_is_revalidated_by_last_modified(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    modified = http_date(clock, -3600)
    origin.resources["/a.wav"] = Resource(
        b"RIFF", {"Cache-Control": "max-age=10"}, last_modified=modified
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.wav")
    first = await fetcher.fetch(request)
    clock.advance(11)
    assert await fetcher.fetch(request) is first
    assert origin.seen[-1][2]["If-Modified-Since"] == modified
    assert "If-None-Match" not in origin.seen[-1][2]


async def test_changed_resource_replaces_the_copy(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    origin.resources["/a.vxml"] = Resource(b"new", {"Cache-Control": "max-age=60"}, etag='"v2"')
    clock.advance(61)
    changed = await fetcher.fetch(request)
    assert changed.body == b"new"
    assert await fetcher.fetch(request) is changed
    assert counters(fetcher) == (1, 1, 1)


async def test_304_refreshes_the_stored_header_fields(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    first = await fetcher.fetch(request)
    clock.advance(61)
    origin.resources["/a.vxml"].headers = {"Cache-Control": "max-age=600"}
    assert await fetcher.fetch(request) is first
    clock.advance(300)  # fresh for 600 s now, not 60
    assert await fetcher.fetch(request) is first
    assert counters(fetcher) == (1, 1, 1)


@pytest.mark.parametrize(
    "headers",
    [
        {"Cache-Control": "no-store, max-age=60"},
        {"Cache-Control": "private, max-age=60"},
        {"Cache-Control": 'max-age=60, private="X-User"'},
        {"Cache-Control": "max-age=60", "Set-Cookie": "session=1"},
        {"Cache-Control": "max-age=60", "Vary": "Accept-Language"},
        {"Cache-Control": "max-age=60", "Vary": "*"},
    ],
    ids=["no-store", "private", "private-fields", "set-cookie", "vary-language", "vary-star"],
)
async def test_never_cached(
    origin: Origin, fetcher: voicexml.HttpFetcher, headers: dict[str, str]
) -> None:
    origin.resources["/a.vxml"] = Resource(headers=headers, etag='"v1"')
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    await fetcher.fetch(request)
    assert [h.get("If-None-Match") for _, _, h in origin.seen] == [None, None]
    assert counters(fetcher) == (0, 2, 0)
    assert fetcher.cache_bytes == 0


async def test_no_store_drops_an_earlier_copy(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"})
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "no-store"})
    clock.advance(61)
    await fetcher.fetch(request)
    assert fetcher.cache_bytes == 0


async def test_vary_accept_encoding_is_cached(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/a.vxml"] = Resource(
        headers={"Cache-Control": "max-age=60", "Vary": "Accept-Encoding"}
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    first = await fetcher.fetch(request)
    assert await fetcher.fetch(request) is first
    assert len(origin.seen) == 1


async def test_authorized_responses_are_not_cached(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    # Even "public" (which RFC 9111 section 3.5 would allow): the cache serves every call.
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "public, max-age=60"})
    request = voicexml.FetchRequest(origin.url.replace("//", "//user:secret@") + "/a.vxml")
    await fetcher.fetch(request)
    await fetcher.fetch(request)
    assert len(origin.seen) == 2
    assert origin.seen[0][2]["Authorization"].startswith("Basic ")


async def test_no_cache_is_revalidated_at_every_use(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/a.vxml"] = Resource(
        headers={"Cache-Control": "no-cache, max-age=60"}, etag='"v1"'
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    first = await fetcher.fetch(request)
    assert await fetcher.fetch(request) is first
    assert await fetcher.fetch(request) is first
    assert counters(fetcher) == (0, 1, 2)


async def test_pragma_no_cache_without_cache_control(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(
        headers={"Pragma": "no-cache", "Expires": http_date(clock, 60)}, etag='"v1"'
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    await fetcher.fetch(request)
    assert counters(fetcher) == (0, 1, 1)


async def test_expires(origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Expires": http_date(clock, 60)}, etag='"v1"')
    origin.resources["/b.vxml"] = Resource(headers={"Expires": "0"}, etag='"v1"')
    for _ in range(2):
        await fetcher.fetch(voicexml.FetchRequest(f"{origin.url}/a.vxml"))
        await fetcher.fetch(voicexml.FetchRequest(f"{origin.url}/b.vxml"))
    assert counters(fetcher) == (1, 2, 1)  # a.vxml fresh, b.vxml expired already
    clock.advance(62)
    await fetcher.fetch(voicexml.FetchRequest(f"{origin.url}/a.vxml"))
    assert counters(fetcher) == (1, 2, 2)


async def test_max_age_wins_over_expires(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=600", "Expires": "0"})
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    clock.advance(300)
    await fetcher.fetch(request)
    assert counters(fetcher) == (1, 1, 0)


async def test_s_maxage_wins_over_max_age(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(
        headers={"Cache-Control": "max-age=600, s-maxage=10"}, etag='"v1"'
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    clock.advance(11)
    await fetcher.fetch(request)
    assert counters(fetcher) == (0, 1, 1)


async def test_age_counts(origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime) -> None:
    origin.resources["/a.vxml"] = Resource(
        headers={"Cache-Control": "max-age=60", "Age": "50"}, etag='"v1"'
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    clock.advance(5)
    await fetcher.fetch(request)
    clock.advance(6)  # 61 s old now
    await fetcher.fetch(request)
    assert counters(fetcher) == (1, 1, 1)


async def test_maxage_zero_forces_a_revalidation(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    url = f"{origin.url}/a.vxml"
    first = await fetcher.fetch(voicexml.FetchRequest(url))
    assert await fetcher.fetch(voicexml.FetchRequest(url, maxage_s=0)) is first
    assert counters(fetcher) == (0, 1, 1)
    # Sent on, so that a cache between here and the origin does the same.
    assert origin.seen[-1][2]["Cache-Control"] == "max-age=0"
    assert origin.seen[-1][2]["If-None-Match"] == '"v1"'


async def test_maxage_limits_the_age_of_a_fresh_copy(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=600"}, etag='"v1"')
    url = f"{origin.url}/a.vxml"
    await fetcher.fetch(voicexml.FetchRequest(url))
    clock.advance(20)
    await fetcher.fetch(voicexml.FetchRequest(url, maxage_s=30))
    assert counters(fetcher) == (1, 1, 0)
    clock.advance(20)  # 40 s old
    await fetcher.fetch(voicexml.FetchRequest(url, maxage_s=30))
    assert counters(fetcher) == (1, 1, 1)


async def test_maxstale_accepts_a_stale_copy(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    url = f"{origin.url}/a.vxml"
    first = await fetcher.fetch(voicexml.FetchRequest(url))
    clock.advance(90)  # 30 s stale
    assert await fetcher.fetch(voicexml.FetchRequest(url, maxstale_s=60)) is first
    assert counters(fetcher) == (1, 1, 0)
    await fetcher.fetch(voicexml.FetchRequest(url, maxstale_s=10))
    assert counters(fetcher) == (1, 1, 1)
    assert origin.seen[-1][2]["Cache-Control"] == "max-stale=10"


async def test_maxstale_with_maxage(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    # VoiceXML 2.0 section 6.1.2.1: a copy within maxage that has expired gets the
    # maxstale check; one beyond maxage is fetched whatever maxstale says.
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"}, etag='"v1"')
    url = f"{origin.url}/a.vxml"
    await fetcher.fetch(voicexml.FetchRequest(url))
    clock.advance(90)
    await fetcher.fetch(voicexml.FetchRequest(url, maxage_s=100, maxstale_s=60))
    assert counters(fetcher) == (1, 1, 0)
    await fetcher.fetch(voicexml.FetchRequest(url, maxage_s=80, maxstale_s=60))
    assert counters(fetcher) == (1, 1, 1)


@pytest.mark.parametrize(
    "cache_control", ["max-age=60, must-revalidate", "max-age=60, proxy-revalidate", "s-maxage=60"]
)
async def test_must_revalidate_overrides_maxstale(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime, cache_control: str
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": cache_control}, etag='"v1"')
    url = f"{origin.url}/a.vxml"
    await fetcher.fetch(voicexml.FetchRequest(url))
    clock.advance(90)
    await fetcher.fetch(voicexml.FetchRequest(url, maxstale_s=600))
    assert counters(fetcher) == (0, 1, 1)


async def test_heuristic_freshness_from_last_modified(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    # Modified a day ago: 10 % would be 2.4 hours, capped at 5 minutes.
    origin.resources["/a.wav"] = Resource(b"RIFF", last_modified=http_date(clock, -86_400))
    request = voicexml.FetchRequest(f"{origin.url}/a.wav")
    await fetcher.fetch(request)
    clock.advance(290)
    await fetcher.fetch(request)
    assert counters(fetcher) == (1, 1, 0)
    clock.advance(20)
    await fetcher.fetch(request)
    assert counters(fetcher) == (1, 1, 1)


async def test_no_heuristic_freshness_with_a_query(
    origin: Origin, fetcher: voicexml.HttpFetcher, clock: FakeTime
) -> None:
    origin.resources["/next.php"] = Resource(last_modified=http_date(clock, -86_400))
    request = voicexml.FetchRequest(f"{origin.url}/next.php?choice=1")
    first = await fetcher.fetch(request)
    assert await fetcher.fetch(request) is first  # kept for its validator, revalidated
    assert counters(fetcher) == (0, 1, 1)
    assert origin.paths() == ["/next.php?choice=1"] * 2


async def test_nothing_to_revalidate_with_is_not_kept(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/a.vxml"] = Resource()  # no lifetime, no validator
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    await fetcher.fetch(request)
    assert counters(fetcher) == (0, 2, 0)
    assert fetcher.cache_bytes == 0


async def test_lru_bound(origin: Origin, http: aiohttp.ClientSession, clock: FakeTime) -> None:
    fetcher = voicexml.HttpFetcher(http, clock=clock, cache_max_bytes=10_000)
    for name in "abcd":
        origin.resources[f"/{name}.wav"] = Resource(
            name.encode() * 4000, {"Cache-Control": "max-age=600"}
        )
    origin.resources["/d.wav"].body = b"d" * 20_000  # larger than the whole cache

    async def get(name: str) -> None:
        await fetcher.fetch(voicexml.FetchRequest(f"{origin.url}/{name}.wav"))

    await get("a")
    await get("b")
    await get("a")  # a is now the most recently used
    await get("c")  # evicts b
    assert fetcher.cache_bytes <= 10_000
    assert counters(fetcher) == (1, 3, 0)
    await get("a")
    assert counters(fetcher) == (2, 3, 0)
    await get("b")
    assert counters(fetcher) == (2, 4, 0)
    await get("d")
    await get("d")
    assert counters(fetcher) == (2, 6, 0)
    assert fetcher.cache_bytes <= 10_000


async def test_cache_off(origin: Origin, http: aiohttp.ClientSession) -> None:
    fetcher = voicexml.HttpFetcher(http, cache_max_bytes=0)
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"})
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    await fetcher.fetch(request)
    await fetcher.fetch(request)
    assert len(origin.seen) == 2


async def test_redirect_is_cached_under_the_requested_url(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/start"] = Resource(
        b"", {"Location": "/app/start.vxml", "Cache-Control": "max-age=60"}, status=301
    )
    origin.resources["/app/start.vxml"] = Resource(headers={"Cache-Control": "max-age=60"})
    request = voicexml.FetchRequest(f"{origin.url}/start")
    first = await fetcher.fetch(request)
    assert first.url == f"{origin.url}/app/start.vxml"
    assert await fetcher.fetch(request) is first
    assert origin.paths() == ["/start", "/app/start.vxml"]


async def test_temporary_redirect_is_revalidated(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    # A 302 without a lifetime may lead elsewhere next time: the copy is stale at once,
    # and its revalidation follows the redirect.
    origin.resources["/start"] = Resource(b"", {"Location": "/app/start.vxml"}, status=302)
    origin.resources["/app/start.vxml"] = Resource(
        headers={"Cache-Control": "max-age=60"}, etag='"v1"'
    )
    request = voicexml.FetchRequest(f"{origin.url}/start")
    first = await fetcher.fetch(request)
    assert await fetcher.fetch(request) is first
    assert origin.paths() == ["/start", "/app/start.vxml"] * 2
    assert origin.seen[-1][2]["If-None-Match"] == '"v1"'
    assert counters(fetcher) == (0, 1, 1)


async def test_redirect_leading_elsewhere_on_revalidation(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/start"] = Resource(b"", {"Location": "/one.vxml"}, status=302)
    origin.resources["/one.vxml"] = Resource(b"one", etag='"v1"')
    origin.resources["/two.vxml"] = Resource(b"two", etag='"v1"')  # the same tag, by chance
    request = voicexml.FetchRequest(f"{origin.url}/start")
    assert (await fetcher.fetch(request)).body == b"one"
    origin.resources["/start"].headers["Location"] = "/two.vxml"
    moved = await fetcher.fetch(request)
    assert (moved.url, moved.body) == (f"{origin.url}/two.vxml", b"two")


async def test_post_is_not_cached_and_invalidates(
    origin: Origin, fetcher: voicexml.HttpFetcher
) -> None:
    origin.resources["/a.vxml"] = Resource(headers={"Cache-Control": "max-age=60"})
    url = f"{origin.url}/a.vxml"
    await fetcher.fetch(voicexml.FetchRequest(url))
    await fetcher.fetch(voicexml.FetchRequest(url, "POST", {"x": "1"}))
    await fetcher.fetch(voicexml.FetchRequest(url, "POST", {"x": "1"}))
    await fetcher.fetch(voicexml.FetchRequest(url))
    assert [method for method, _, _ in origin.seen] == ["GET", "POST", "POST", "GET"]
    assert counters(fetcher) == (0, 2, 0)


async def test_errors_are_not_cached(origin: Origin, fetcher: voicexml.HttpFetcher) -> None:
    origin.resources["/a.vxml"] = Resource(
        b"gone", {"Cache-Control": "max-age=60"}, etag='"v1"', status=404
    )
    request = voicexml.FetchRequest(f"{origin.url}/a.vxml")
    for _ in range(2):
        with pytest.raises(voicexml.FetchError):
            await fetcher.fetch(request)
    assert len(origin.seen) == 2


# -- cookies: one jar per call --------------------------------------------------------------


async def test_each_call_keeps_its_own_cookies_and_shares_no_cache_with_them() -> None:
    visits: list[str | None] = []

    async def login(request: web.Request) -> web.Response:
        response = web.Response(text="<vxml/>", headers={"Cache-Control": "max-age=60"})
        response.set_cookie("JSESSIONID", request.query["who"], path="/")
        return response

    async def page(request: web.Request) -> web.Response:
        visits.append(request.cookies.get("JSESSIONID"))
        return web.Response(text="<vxml/>", headers={"Cache-Control": "max-age=60"})

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/page", page)
    runner = web.AppRunner(app, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            shared = voicexml.HttpFetcher(http)
            anonymous = voicexml.for_call(shared)
            await anonymous.fetch(voicexml.FetchRequest(f"{base}/page"))  # cached: no cookie
            alice, bob = shared.for_call(), shared.for_call()
            await alice.fetch(voicexml.FetchRequest(f"{base}/login?who=alice"))
            await bob.fetch(voicexml.FetchRequest(f"{base}/login?who=bob"))
            await alice.fetch(voicexml.FetchRequest(f"{base}/page"))
            await bob.fetch(voicexml.FetchRequest(f"{base}/page"))
            await anonymous.fetch(voicexml.FetchRequest(f"{base}/page"))  # a cache hit
    finally:
        await runner.cleanup()
    # Each call's page request carried its own session (and was not served from the
    # cache filled by the call without cookies); the call without cookies got none.
    assert visits == [None, "alice", "bob"]
    assert shared.hits == 1
    assert voicexml.for_call(anonymous) is anonymous  # not an HttpFetcher: as it is
