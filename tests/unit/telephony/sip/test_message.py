"""SIP message parsing and serialisation (RFC 3261 section 7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vxdial.telephony.sip import message
from vxdial.telephony.sip.message import Headers, NameAddr, Request, Response, Via

INVITE = (
    b"INVITE sip:15551230000@trunk.example:5060 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport, "
    b"SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKdef\r\n"
    b"Max-Forwards: 70\r\n"
    b'f: "Pat" <sip:15550001111@vxdial.example>;tag=1234\r\n'
    b"t: <sip:15551230000@trunk.example>\r\n"
    b"i: abc@host\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Subject: a long\r\n"
    b"  folded subject\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\ntrailing bytes beyond Content-Length"
)


def test_a_request_with_compact_forms_folding_and_a_cut_body() -> None:
    request = message.parse(INVITE)
    assert isinstance(request, Request)
    assert (request.method, request.uri) == ("INVITE", "sip:15551230000@trunk.example:5060")
    assert request.call_id == "abc@host"
    assert request.cseq == (2, "INVITE")
    assert request.headers.get("subject") == "a long folded subject"
    assert request.headers.get("Content-Type") == "application/sdp"
    assert request.body == b"v=0\r"
    vias = request.headers.get_all("Via")
    assert [Via.parse(v).branch for v in vias] == ["z9hG4bKabc", "z9hG4bKdef"]
    top = Via.parse(vias[0])
    assert (top.host, top.port, "rport" in top.params) == ("10.0.0.1", 5060, True)
    sender = NameAddr.parse(request.headers.get("From") or "")
    assert (sender.display, sender.uri, sender.tag) == (
        "Pat",
        "sip:15550001111@vxdial.example",
        "1234",
    )


def test_a_response_and_its_reason_phrase() -> None:
    response = message.parse(
        b"SIP/2.0 486 Busy Here\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(response, Response)
    assert (response.status, response.reason, response.cseq) == (486, "Busy Here", (1, "INVITE"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"HELLO world\r\n\r\n",
        b"SIP/2.0 abc OK\r\n\r\n",
        b"INVITE sip:a SIP/2.0\r\nno colon here\r\n\r\n",
        b"INVITE sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nshort",
        b"INVITE sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n",
        b"\xff\xfe SIP/2.0 200 OK\r\n\r\n",
    ],
)
def test_what_is_not_a_sip_message_is_refused(data: bytes) -> None:
    with pytest.raises(message.ParseError):
        message.parse(data)


def test_values_split_at_commas_outside_quotes_and_brackets() -> None:
    value = '"Doe, John" <sip:a@b;x=1,2>, <sip:c@d>;q=0.5'
    assert message.split_values(value) == ['"Doe, John" <sip:a@b;x=1,2>', "<sip:c@d>;q=0.5"]


def test_set_replaces_every_value_in_place() -> None:
    headers = Headers([("Via", "a"), ("To", "t"), ("v", "b")])
    headers.set("via", "c")
    assert headers.items() == [("Via", "c"), ("To", "t")]


def test_a_uri_s_host_and_port() -> None:
    assert message.uri_host_port("sip:alice@10.1.2.3:5070;transport=udp") == ("10.1.2.3", 5070)
    assert message.uri_host_port("sip:trunk.example") == ("trunk.example", 5060)


_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12
)
_value = (
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters=","),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
_header_name = _token.filter(lambda n: n.lower() not in {"content-length", "l"} and len(n) > 1)
_headers = st.lists(st.tuples(_header_name, _value), max_size=12)
_body = st.binary(max_size=200)


@given(
    method=st.sampled_from(["INVITE", "ACK", "BYE", "OPTIONS", "REFER", "NOTIFY"]),
    user=st.text(alphabet="0123456789", min_size=1, max_size=15),
    headers=_headers,
    body=_body,
)
def test_requests_round_trip(
    method: str, user: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    sent = Request(method, f"sip:{user}@trunk.example:5060", Headers(headers), body)
    received = message.parse(message.serialise(sent))
    assert received.headers.get("Content-Length") == str(len(body))
    received.headers.remove("Content-Length")
    assert received == sent


@given(
    status=st.integers(min_value=100, max_value=699),
    reason=st.text(alphabet="abcdefghij KLMNOP", max_size=30).map(str.strip),
    headers=_headers,
    body=_body,
)
def test_responses_round_trip(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    sent = Response(status, reason, Headers(headers), body)
    received = message.parse(message.serialise(sent))
    assert received.headers.get("Content-Length") == str(len(body))
    received.headers.remove("Content-Length")
    assert received == sent
