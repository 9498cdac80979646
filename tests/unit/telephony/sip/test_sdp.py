"""SDP offer/answer (RFC 4566, RFC 3264)."""

from __future__ import annotations

import pytest

from vxdial.telephony.sip import sdp

OURS = sdp.MediaOffer(host="127.0.0.1", port=20000, codecs=(("PCMU", 0), ("PCMA", 8)))


def test_our_offer_lists_the_codecs_and_telephone_event() -> None:
    body = sdp.offer(OURS).decode()
    assert "m=audio 20000 RTP/AVP 0 8 101\r\n" in body
    assert "c=IN IP4 127.0.0.1\r\n" in body
    assert "a=rtpmap:101 telephone-event/8000\r\n" in body
    parsed = sdp.parse(body.encode())
    assert (parsed.host, parsed.port, parsed.codecs, parsed.telephone_event_pt) == (
        "127.0.0.1",
        20000,
        (("PCMU", 0), ("PCMA", 8)),
        101,
    )


def test_an_answer_with_a_media_level_address_and_dynamic_event_type() -> None:
    answer = (
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 8 96\r\nc=IN IP4 10.0.0.9\r\n"
        b"a=rtpmap:96 telephone-event/8000\r\na=sendrecv\r\n"
        b"m=video 5000 RTP/AVP 31\r\nc=IN IP4 10.0.0.7\r\n"
    )
    parsed = sdp.parse(answer)
    assert (parsed.host, parsed.port, parsed.codecs, parsed.telephone_event_pt) == (
        "10.0.0.9",
        4000,
        (("PCMA", 8),),
        96,
    )
    assert sdp.choose_codec(parsed, OURS.codecs) == ("PCMA", 8)


def test_answering_an_offer_keeps_its_order_and_payload_types() -> None:
    offer = sdp.parse(
        b"v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 18 8 0 100\r\n"
        b"a=rtpmap:100 telephone-event/8000\r\na=sendonly\r\n"
    )
    body, codec = sdp.answer_to(offer, OURS)
    assert codec == ("PCMA", 8)
    text = body.decode()
    assert "m=audio 20000 RTP/AVP 8 100\r\n" in text
    assert "a=recvonly\r\n" in text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\n", "no audio stream"),
        (b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n", "no connection address"),
        (b"v=0\r\nc=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 0\r\n", "unsupported c= line"),
        (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", "malformed m= line"),
    ],
)
def test_descriptions_we_cannot_use(body: bytes, reason: str) -> None:
    with pytest.raises(sdp.SdpError, match=reason):
        sdp.parse(body)


def test_no_common_codec() -> None:
    g729 = sdp.parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\n")
    with pytest.raises(sdp.SdpError, match="no common codec"):
        sdp.choose_codec(g729, OURS.codecs)
