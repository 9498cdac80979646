"""Client transactions and the UA core against a scripted peer on loopback UDP, with
RFC 3261's timers scaled down (T1 of a few milliseconds).

Counts of retransmissions are asserted as bounds: a busy machine can only delay a
timer, never bring it forward, so a late loop sends fewer copies, not more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from vxdial.telephony.sip import digest, message, sdp
from vxdial.telephony.sip.message import Headers, Request, Response
from vxdial.telephony.sip.transaction import Timers, TransactionTimeout
from vxdial.telephony.sip.ua import Call, Identity, UserAgent

TIMERS = Timers(t1_s=0.01, t2_s=0.04, t4_s=0.05, timer_d_s=0.1)
OURS = sdp.MediaOffer("127.0.0.1", 20000, (("PCMU", 0), ("PCMA", 8)))
OUR_SDP = sdp.offer(OURS)


class Peer(asyncio.DatagramProtocol):
    """The far end: every message it receives, parsed, in a queue."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[Request | Response, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait((message.parse(data), addr))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, outgoing: Request | Response, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(message.serialise(outgoing), to)

    async def next(self, timeout_s: float = 10.0) -> tuple[Request | Response, tuple[str, int]]:
        return await asyncio.wait_for(self.inbox.get(), timeout_s)

    async def next_request(self, method: str) -> tuple[Request, tuple[str, int]]:
        while True:
            received, source = await self.next()
            if isinstance(received, Request) and received.method == method:
                return received, source

    def drain(self) -> list[Request | Response]:
        items = []
        while not self.inbox.empty():
            items.append(self.inbox.get_nowait()[0])
        return items


def reply(
    request: Request, status: int, reason: str, *, tag: str | None = "peer", body: bytes = b""
) -> Response:
    headers = Headers()
    for via in request.headers.get_all("Via"):
        headers.add("Via", via)
    headers.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    headers.add("To", f"{to};tag={tag}" if tag and "tag=" not in to else to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.headers.get("CSeq") or "")
    if status == 200 and request.method == "INVITE":
        headers.add("Contact", "<sip:callee@127.0.0.1>")
        headers.add("Content-Type", "application/sdp")
    return Response(status, reason, headers, body)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


@contextlib.asynccontextmanager
async def started_agent(
    peer: Peer, credentials: digest.Credentials | None = None
) -> AsyncIterator[UserAgent]:
    """A user agent whose trunk is ``peer``, started, closed on leaving."""
    host, port = peer.address
    user_agent = UserAgent(
        Identity(
            trunk=(host, port),
            trunk_host=host,
            from_domain="vxdial.test",
            credentials=credentials,
        ),
        bind_host="127.0.0.1",
        bind_port=0,
        timers=TIMERS,
    )
    await user_agent.start()
    try:
        yield user_agent
    finally:
        user_agent.close()


@pytest.fixture
async def agent(peer: Peer) -> AsyncIterator[UserAgent]:
    async with started_agent(peer) as user_agent:
        yield user_agent


def new_call(agent: UserAgent) -> Call:
    return agent.call(
        number="15551230000",
        caller_id="15550001111",
        sdp_offer=lambda: OUR_SDP,
        answer_offer=lambda offer: sdp.answer_to(offer, OURS)[0],
    )


def options(agent: UserAgent, peer: Peer) -> Request:
    headers = Headers()
    headers.add("Via", agent.via())
    headers.add("From", "<sip:a@b>;tag=1")
    headers.add("To", "<sip:c@d>")
    headers.add("Call-ID", "x@y")
    headers.add("CSeq", "1 OPTIONS")
    return Request("OPTIONS", f"sip:{peer.address[0]}:{peer.address[1]}", headers)


async def test_an_unanswered_invite_doubles_its_interval_until_timer_b(
    agent: UserAgent, peer: Peer
) -> None:
    call = new_call(agent)
    with pytest.raises(TransactionTimeout, match="timer B"):
        await call.setup(ring_timeout_s=10)
    copies = [m for m in peer.drain() if isinstance(m, Request) and m.method == "INVITE"]
    # Timer A: T1, 2T1, 4T1 ... within 64*T1: at most 1 + 6 copies.
    assert 3 <= len(copies) <= 7
    assert len({message.serialise(c) for c in copies}) == 1  # the very same request


async def test_a_non_invite_request_is_retransmitted_at_most_every_t2(
    agent: UserAgent, peer: Peer
) -> None:
    transaction = agent.endpoint.client_transaction(options(agent, peer), peer.address)
    with pytest.raises(TransactionTimeout, match="timer F"):
        await transaction.final
    copies = [m for m in peer.drain() if isinstance(m, Request)]
    # Timer E caps at T2 (40 ms): 18 copies in 64*T1; doubling alone would give 7.
    assert 10 <= len(copies) <= 18


async def test_a_provisional_response_stops_invite_retransmissions(
    agent: UserAgent, peer: Peer
) -> None:
    call = new_call(agent)
    rang: list[bool] = []
    setup = asyncio.ensure_future(
        call.setup(ring_timeout_s=0.3, on_ringing=lambda: rang.append(True))
    )
    invite, source = await peer.next_request("INVITE")
    peer.send(reply(invite, 180, "Ringing"), source)
    # The ring timeout: a CANCEL (same branch, CSeq "1 CANCEL"), answered 200, then 487.
    cancel, _ = await peer.next_request("CANCEL")
    assert (
        message.Via.parse(cancel.headers.get_all("Via")[0]).branch
        == message.Via.parse(invite.headers.get_all("Via")[0]).branch
    )
    assert cancel.cseq == (1, "CANCEL")
    assert cancel.headers.get("Reason") == 'SIP;cause=408;text="ring timeout"'
    peer.send(reply(cancel, 200, "OK"), source)
    terminated = reply(invite, 487, "Request Terminated")
    peer.send(terminated, source)
    ack, _ = await peer.next_request("ACK")
    assert ack.cseq == (1, "ACK") and ack.uri == invite.uri
    assert await setup is None
    assert rang == [True]
    # A retransmitted 487 is ACKed again by the transaction (Timer D).
    peer.send(terminated, source)
    again, _ = await peer.next_request("ACK")
    assert message.serialise(again) == message.serialise(ack)
    invites = [m for m in peer.drain() if isinstance(m, Request) and m.method == "INVITE"]
    assert invites == []  # none after the 180


async def test_no_cancel_before_a_provisional_response(agent: UserAgent, peer: Peer) -> None:
    call = new_call(agent)
    setup = asyncio.ensure_future(call.setup(ring_timeout_s=0.05))
    invite, source = await peer.next_request("INVITE")
    await asyncio.sleep(0.15)  # the ring timeout passes in silence
    assert not [m for m in peer.drain() if isinstance(m, Request) and m.method == "CANCEL"]
    peer.send(reply(invite, 100, "Trying", tag=None), source)
    cancel, _ = await peer.next_request("CANCEL")  # RFC 3261 section 9.1: now
    peer.send(reply(cancel, 200, "OK"), source)
    peer.send(reply(invite, 487, "Request Terminated"), source)
    assert await setup is None


async def test_a_retransmitted_2xx_is_acked_again(agent: UserAgent, peer: Peer) -> None:
    call = new_call(agent)
    setup = asyncio.ensure_future(call.setup(ring_timeout_s=5))
    invite, source = await peer.next_request("INVITE")
    ok = reply(invite, 200, "OK", body=sdp.offer(sdp.MediaOffer("127.0.0.1", 4000, (("PCMU", 0),))))
    peer.send(ok, source)
    first, _ = await peer.next_request("ACK")
    final = await setup
    assert final is not None and final.status == 200
    assert call.remote_target == "sip:callee@127.0.0.1"
    assert call.remote_media is not None and call.remote_media.port == 4000
    # The ACK of a 2xx is a new transaction (its own branch), CSeq of the INVITE.
    assert first.cseq == (1, "ACK")
    assert ";tag=peer" in (first.headers.get("To") or "")
    # Our ACK was "lost": the 200 comes again, while the transaction lingers (RFC 6026)
    # and after it has ended; the same ACK answers both times.
    peer.send(ok, source)
    second, _ = await peer.next_request("ACK")
    await asyncio.sleep(TIMERS.timeout_s + 0.05)
    peer.send(ok, source)
    third, _ = await peer.next_request("ACK")
    assert message.serialise(first) == message.serialise(second) == message.serialise(third)
    assert agent.endpoint.retransmitted["ACK"] == 2


async def test_their_bye_ends_the_call_and_is_answered_once_per_retransmission(
    agent: UserAgent, peer: Peer
) -> None:
    call = await answered(agent, peer)
    bye = in_dialog(call, "BYE", peer, cseq=1)
    bye.headers.add("Reason", 'Q.850;cause=16;text="Normal call clearing"')
    peer.send(bye, agent.local_address)
    ok, _ = await peer.next()
    assert isinstance(ok, Response) and (ok.status, ok.cseq) == (200, (1, "BYE"))
    assert call.ended.is_set()
    assert call.end_cause == 'SIP BYE (Q.850;cause=16;text="Normal call clearing")'
    peer.send(bye, agent.local_address)  # our 200 was lost: the same one again
    again, _ = await peer.next()
    assert message.serialise(again) == message.serialise(ok)
    await call.bye()  # a no-op now
    assert agent.endpoint.sent["BYE"] == 0


async def test_a_reinvite_is_answered_with_our_sdp_until_acked(
    agent: UserAgent, peer: Peer
) -> None:
    call = await answered(agent, peer)
    changes: list[sdp.Description] = []
    call.on_media_change = changes.append
    offer = sdp.offer(sdp.MediaOffer("127.0.0.1", 4100, (("PCMA", 8), ("PCMU", 0))))
    reinvite = in_dialog(call, "INVITE", peer, cseq=5, body=offer)
    peer.send(reinvite, agent.local_address)
    ok, _ = await peer.next()
    assert isinstance(ok, Response) and ok.status == 200
    assert b"m=audio 20000 RTP/AVP 8 101" in ok.body  # their first codec that we have
    assert [c.port for c in changes] == [4100]
    repeated, _ = await peer.next()  # no ACK yet: the 200 again after T1
    assert message.serialise(repeated) == message.serialise(ok)
    ack = in_dialog(call, "ACK", peer, cseq=5)
    peer.send(ack, agent.local_address)
    await asyncio.sleep(0.1)
    assert peer.drain() == []  # repetitions stopped at the ACK


async def test_options_and_unknown_requests_out_of_dialog(agent: UserAgent, peer: Peer) -> None:
    request = options(agent, peer)
    request.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKpeer1")
    peer.send(request, agent.local_address)
    ok, _ = await peer.next()
    assert (
        isinstance(ok, Response)
        and ok.status == 200
        and "INVITE" in (ok.headers.get("Allow") or "")
    )
    bye = Request("BYE", "sip:x@y", request.headers.copy())
    bye.headers.set("CSeq", "2 BYE")
    bye.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKpeer2")
    peer.send(bye, agent.local_address)
    missing, _ = await peer.next()
    assert isinstance(missing, Response) and missing.status == 481


async def answered(agent: UserAgent, peer: Peer) -> Call:
    call = new_call(agent)
    setup = asyncio.ensure_future(call.setup(ring_timeout_s=5))
    invite, source = await peer.next_request("INVITE")
    peer.send(reply(invite, 200, "OK", body=OUR_SDP), source)
    await peer.next_request("ACK")
    await setup
    return call


def in_dialog(call: Call, method: str, peer: Peer, *, cseq: int, body: bytes = b"") -> Request:
    """A request from the far end inside ``call``'s dialog."""
    headers = Headers()
    headers.add(
        "Via", f"SIP/2.0/UDP {peer.address[0]}:{peer.address[1]};branch={message.new_branch()}"
    )
    headers.add("From", f"<sip:15551230000@127.0.0.1>;tag={call.remote_tag}")
    headers.add("To", f"<{call.local_uri}>;tag={call.local_tag}")
    headers.add("Call-ID", call.call_id)
    headers.add("CSeq", f"{cseq} {method}")
    if body:
        headers.add("Content-Type", "application/sdp")
    return Request(method, call.agent.contact_uri, headers, body)


async def test_a_challenged_bye_is_sent_again_with_credentials(peer: Peer) -> None:
    async with started_agent(peer, digest.Credentials("alice", "secret")) as agent:
        call = await answered(agent, peer)
        bye = asyncio.ensure_future(call.bye())
        first, source = await peer.next_request("BYE")
        challenge = reply(first, 407, "Proxy Authentication Required")
        challenge.headers.add(
            "Proxy-Authenticate", 'Digest realm="trunk", nonce="abc", qop="auth", algorithm=MD5'
        )
        peer.send(challenge, source)
        second, _ = await peer.next_request("BYE")
        assert second.cseq == (first.cseq[0] + 1, "BYE")
        credentials = second.headers.get("Proxy-Authorization") or ""
        assert 'username="alice"' in credentials and f'uri="{second.uri}"' in credentials
        peer.send(reply(second, 200, "OK"), source)
        await bye


async def test_a_reinvite_without_sdp_gets_our_offer_and_its_ack_the_answer(
    agent: UserAgent, peer: Peer
) -> None:
    call = await answered(agent, peer)
    changes: list[sdp.Description] = []
    call.on_media_change = changes.append
    peer.send(in_dialog(call, "INVITE", peer, cseq=7), agent.local_address)
    ok, _ = await peer.next()
    assert isinstance(ok, Response) and ok.body == OUR_SDP
    answer = sdp.offer(sdp.MediaOffer("127.0.0.1", 4200, (("PCMU", 0),)))
    peer.send(in_dialog(call, "ACK", peer, cseq=7, body=answer), agent.local_address)
    await asyncio.sleep(0.05)
    assert [c.port for c in changes] == [4200]


async def test_calls_to_us_are_declined(agent: UserAgent, peer: Peer) -> None:
    invite = options(agent, peer)
    invite.method = "INVITE"
    invite.headers.set("CSeq", "1 INVITE")
    invite.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKpeer3")
    peer.send(invite, agent.local_address)
    declined, _ = await peer.next()
    assert isinstance(declined, Response) and declined.status == 603


async def test_a_call_without_caller_id_is_anonymous(agent: UserAgent, peer: Peer) -> None:
    call = agent.call(
        number="15551230000",
        caller_id="anonymous",
        sdp_offer=lambda: OUR_SDP,
        answer_offer=lambda offer: OUR_SDP,
    )
    setup = asyncio.ensure_future(call.setup(ring_timeout_s=5))
    invite, source = await peer.next_request("INVITE")
    sender = message.NameAddr.parse(invite.headers.get("From") or "")
    assert (sender.display, sender.uri) == ("Anonymous", "sip:anonymous@anonymous.invalid")
    assert invite.headers.get("P-Asserted-Identity") is None
    peer.send(reply(invite, 486, "Busy Here"), source)
    final = await setup
    assert final is not None and final.status == 486


async def test_a_proxy_then_a_registrar_challenge_are_both_answered(peer: Peer) -> None:
    async with started_agent(peer, digest.Credentials("alice", "secret")) as agent:
        call = new_call(agent)
        setup = asyncio.ensure_future(call.setup(ring_timeout_s=5))
        first, source = await peer.next_request("INVITE")
        proxy = reply(first, 407, "Proxy Authentication Required")
        proxy.headers.add("Proxy-Authenticate", 'Digest realm="proxy", nonce="p1", qop="auth"')
        peer.send(proxy, source)
        second, _ = await peer.next_request("INVITE")
        server = reply(second, 401, "Unauthorized")
        server.headers.add(
            "WWW-Authenticate", 'Digest realm="uas", nonce="u1", algorithm=SHA-256, qop="auth"'
        )
        peer.send(server, source)
        third, _ = await peer.next_request("INVITE")
        assert [first.cseq[0], second.cseq[0], third.cseq[0]] == [1, 2, 3]
        assert 'realm="proxy"' in (third.headers.get("Proxy-Authorization") or "")
        assert 'realm="uas"' in (third.headers.get("Authorization") or "")
        assert "algorithm=SHA-256" in (third.headers.get("Authorization") or "")
        assert len({first.call_id, second.call_id, third.call_id}) == 1
        peer.send(reply(third, 486, "Busy Here"), source)
        final = await setup
        assert final is not None and final.status == 486
