"""RTP headers (RFC 3550) and telephone-events (RFC 4733)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from vxdial.telephony.rtp import _packet


def test_header_layout() -> None:
    header = _packet.pack_header(0, 0x1234, 0xDEADBEEF, 0x01020304, marker=True)
    assert header == bytes([0x80, 0x80, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4])
    assert _packet.pack_header(8, 65536 + 5, 2**32 + 7, 9, marker=False)[:8] == bytes(
        [0x80, 8, 0, 5, 0, 0, 0, 7]
    )


@given(
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.booleans(),
    st.binary(max_size=200),
)
def test_header_round_trip(
    payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool, payload: bytes
) -> None:
    data = _packet.pack_header(payload_type, sequence, timestamp, ssrc, marker) + payload
    assert _packet.parse_packet(data) == _packet.RtpPacket(
        payload_type, marker, sequence, timestamp, ssrc, payload
    )


def test_csrc_extension_and_padding_are_skipped() -> None:
    first = 0x80 | 0x20 | 0x10 | 2  # padding, extension, two CSRCs
    header = struct.pack("!BBHII", first, 0, 1, 2, 3)
    csrcs = struct.pack("!II", 10, 11)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\0\0\0\0"
    data = header + csrcs + extension + b"audio" + b"\0\0\x03"
    packet = _packet.parse_packet(data)
    assert packet is not None and packet.payload == b"audio"


def test_strays_are_not_packets() -> None:
    assert _packet.parse_packet(b"\x80\x00") is None  # too short
    assert _packet.parse_packet(b"\x40" + bytes(11)) is None  # version 1
    padded_too_much = bytes([0xA0]) + bytes(11) + b"\x20"
    assert _packet.parse_packet(padded_too_much) is None


def test_telephone_event_payload() -> None:
    # RFC 4733 figure 1: event 8 bits, E, R, volume 6 bits, duration 16 bits.
    assert _packet.pack_event(11, end=True, volume=10, duration=800) == bytes([11, 0x8A, 3, 0x20])
    event = _packet.parse_event(bytes([5, 0x0A, 0, 160]))
    assert event == _packet.TelephoneEvent(5, False, 10, 160)
    assert event.key == "5"
    assert _packet.parse_event(bytes([16, 0, 0, 0])).key is None  # type: ignore[union-attr]
    assert _packet.parse_event(b"\x01") is None
    assert _packet.pack_event(1, end=False, volume=10, duration=70000)[2:] == b"\xff\xff"


def test_event_codes_of_the_keys() -> None:
    assert [_packet.event_code(k) for k in "0123456789*#ABCDd"] == [*range(16), 15]
    for bad in ("E", "", "12", "p"):
        try:
            _packet.event_code(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
