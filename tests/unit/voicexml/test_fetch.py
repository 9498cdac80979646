"""vxdial.voicexml.fetch: HttpFetcher against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

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
