"""RTP packets (RFC 3550 section 5.1) and telephone-events (RFC 4733 section 2.3).

Only what a G.711 voice stream needs: a fixed 12-byte header out (no CSRC, no
extension, no padding), and in: any valid RTP version 2 packet, its CSRC list, header
extension and padding skipped to find the payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "DTMF_EVENTS",
    "HEADER",
    "RtpPacket",
    "TelephoneEvent",
    "event_code",
    "pack_event",
    "pack_header",
    "parse_event",
    "parse_packet",
]

HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
_EVENT = struct.Struct("!BBH")  # event, E/R/volume, duration
_VERSION_2 = 0x80

# RFC 4733 section 3.2, table 1: events 0-15 are the DTMF keys.
DTMF_EVENTS = "0123456789*#ABCD"


def event_code(key: str) -> int:
    """The RFC 4733 event number of a DTMF key (0-9, *, #, A-D; a-d accepted)."""
    code = DTMF_EVENTS.find(key.upper()) if len(key) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF key: {key!r}")
    return code


def pack_header(payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool) -> bytes:
    """The 12-byte RTP header (version 2, no padding, extension or CSRC)."""
    return HEADER.pack(
        _VERSION_2,
        (0x80 if marker else 0) | payload_type,
        sequence & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        ssrc & 0xFFFFFFFF,
    )


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_packet(data: bytes) -> RtpPacket | None:
    """An RTP packet, or None for anything that is not one (wrong version, too short,
    inconsistent lengths): a media port also receives strays, which are dropped."""
    if len(data) < HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = HEADER.unpack_from(data)
    if first & 0xC0 != _VERSION_2:
        return None
    start = HEADER.size + 4 * (first & 0x0F)  # CSRC identifiers
    end = len(data)
    if first & 0x10:  # header extension: 16-bit profile field, 16-bit length in words
        if end < start + 4:
            return None
        (words,) = struct.unpack_from("!H", data, start + 2)
        start += 4 + 4 * words
    if first & 0x20:  # padding: the last octet counts the padding octets, itself included
        if end == 0 or data[-1] == 0:
            return None
        end -= data[-1]
    if start > end:
        return None
    return RtpPacket(
        payload_type=second & 0x7F,
        marker=bool(second & 0x80),
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[start:end]),
    )


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """An RFC 4733 named event: ``event`` (0-255; 0-15 DTMF), ``end`` (the E bit: the
    event is over), ``volume`` (0-63, in -dBm0), ``duration`` (in timestamp units since
    the event's timestamp)."""

    event: int
    end: bool
    volume: int
    duration: int

    @property
    def key(self) -> str | None:
        """The DTMF key, or None for another event (tones, flash...)."""
        return DTMF_EVENTS[self.event] if self.event < len(DTMF_EVENTS) else None


def pack_event(event: int, *, end: bool, volume: int, duration: int) -> bytes:
    """The 4-byte RFC 4733 payload; ``duration`` is capped at 0xFFFF."""
    return _EVENT.pack(event, (0x80 if end else 0) | (volume & 0x3F), min(duration, 0xFFFF))


def parse_event(payload: bytes) -> TelephoneEvent | None:
    """The first event of a telephone-event payload (redundant events that RFC 4733
    section 2.5.1.5 allows after it are ignored), or None if it is too short."""
    if len(payload) < _EVENT.size:
        return None
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)
