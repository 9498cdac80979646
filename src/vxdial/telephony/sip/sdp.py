"""SDP (RFC 4566) offer/answer (RFC 3264) for one audio stream of G.711 and RFC 4733
telephone-events.

We offer our codecs in the configured order plus telephone-event; the answer picks
one. When the far end offers (a re-INVITE, or an INVITE without SDP answered in its
ACK), we answer with the first of its codecs that we have, keeping its payload types.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Description", "MediaOffer", "SdpError", "answer_to", "offer", "parse"]

STATIC_CODECS = {0: "PCMU", 8: "PCMA"}  # RFC 3551 static payload types
TELEPHONE_EVENT = "telephone-event"


class SdpError(ValueError):
    """A session description we cannot use."""


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """What we put in an SDP: our RTP address and codecs (name, payload type)."""

    host: str
    port: int
    codecs: tuple[tuple[str, int], ...]  # ("PCMU", 0), ("PCMA", 8)
    telephone_event_pt: int = 101
    session_id: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class Description:
    """The audio stream of a parsed session description."""

    host: str
    port: int  # 0: the stream is refused
    codecs: tuple[tuple[str, int], ...]  # in the sender's order of preference
    telephone_event_pt: int | None
    direction: str  # sendrecv | sendonly | recvonly | inactive


def _session_lines(media: MediaOffer) -> list[str]:
    """The session-level lines of our offers and answers (RFC 4566 section 5)."""
    return [
        "v=0",
        f"o=vxdial {media.session_id} {media.version} IN IP4 {media.host}",
        "s=vxdial",
        f"c=IN IP4 {media.host}",
        "t=0 0",
    ]


def offer(media: MediaOffer) -> bytes:
    payloads = [pt for _, pt in media.codecs] + [media.telephone_event_pt]
    lines = [
        *_session_lines(media),
        f"m=audio {media.port} RTP/AVP {' '.join(str(p) for p in payloads)}",
    ]
    lines.extend(f"a=rtpmap:{pt} {name}/8000" for name, pt in media.codecs)
    lines.append(f"a=rtpmap:{media.telephone_event_pt} {TELEPHONE_EVENT}/8000")
    lines.append(f"a=fmtp:{media.telephone_event_pt} 0-16")
    lines.append("a=ptime:20")
    lines.append("a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()


def parse(body: bytes) -> Description:
    """The first audio stream of ``body``; raises ``SdpError``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("not UTF-8") from exc
    session_host: str | None = None
    media_host: str | None = None
    port: int | None = None
    payloads: list[int] = []
    rtpmaps: dict[int, str] = {}
    direction = "sendrecv"
    in_audio = False
    seen_audio = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if seen_audio:
                in_audio = False
                break  # only the first audio stream is ours
            fields = value.split()
            in_audio = bool(fields) and fields[0] == "audio"
            if in_audio:
                seen_audio = True
                if len(fields) < 4:
                    raise SdpError(f"malformed m= line {line!r}")
                try:
                    port = int(fields[1].split("/")[0])
                    payloads = [int(p) for p in fields[3:]]
                except ValueError:
                    raise SdpError(f"malformed m= line {line!r}") from None
            continue
        if kind == "c":
            fields = value.split()
            if len(fields) < 3 or fields[1] != "IP4":
                raise SdpError(f"unsupported c= line {line!r}")
            host = fields[2].split("/")[0]
            if in_audio:
                media_host = host
            elif not seen_audio:
                session_host = host
        elif kind == "a" and (in_audio or not seen_audio):
            name, _, rest = value.partition(":")
            if name == "rtpmap" and in_audio:
                pt_text, _, encoding = rest.partition(" ")
                try:
                    rtpmaps[int(pt_text)] = encoding.split("/")[0]
                except ValueError:
                    continue
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                direction = name
    if port is None:
        raise SdpError("no audio stream")
    address = media_host or session_host
    if address is None:
        raise SdpError("no connection address")
    codecs: list[tuple[str, int]] = []
    event_pt: int | None = None
    for pt in payloads:
        codec_name = rtpmaps.get(pt) or STATIC_CODECS.get(pt)
        if codec_name is None:
            continue
        if codec_name.lower() == TELEPHONE_EVENT:
            event_pt = event_pt if event_pt is not None else pt
        else:
            codecs.append((codec_name.upper(), pt))
    return Description(address, port, tuple(codecs), event_pt, direction)


def choose_codec(description: Description, ours: tuple[tuple[str, int], ...]) -> tuple[str, int]:
    """The first of the far end's codecs that we have (its order wins, RFC 3264
    section 6.1); raises ``SdpError``."""
    names = {name for name, _ in ours}
    for name, pt in description.codecs:
        if name in names:
            return name, pt
    offered = ", ".join(name for name, _ in description.codecs) or "none"
    raise SdpError(f"no common codec (offered: {offered})")


def answer_to(description: Description, media: MediaOffer) -> tuple[bytes, tuple[str, int]]:
    """Our answer to the far end's offer, and the codec it settles on."""
    codec = choose_codec(description, media.codecs)
    payloads = [codec[1]]
    lines = _session_lines(media)
    attributes = [f"a=rtpmap:{codec[1]} {codec[0]}/8000"]
    if description.telephone_event_pt is not None:
        payloads.append(description.telephone_event_pt)
        attributes.append(f"a=rtpmap:{description.telephone_event_pt} {TELEPHONE_EVENT}/8000")
        attributes.append(f"a=fmtp:{description.telephone_event_pt} 0-16")
    port = media.port if description.port else 0
    lines.append(f"m=audio {port} RTP/AVP {' '.join(str(p) for p in payloads)}")
    lines.extend(attributes)
    lines.append("a=ptime:20")
    mirrored = {"sendonly": "recvonly", "recvonly": "sendonly"}.get(
        description.direction, description.direction
    )
    lines.append(f"a={mirrored}")
    return ("\r\n".join(lines) + "\r\n").encode(), codec
