"""What passes over an answered call's voice channel: prompts out, keys in, recordings,
transfers, hangups.

Shared words of telephony/ (which carries them) and voicexml/ (which produces and
consumes them); pure data, ``silence_wav`` to make a recording without a sound card, and
the formats a recording can be written in (``recording_format``, ``encode_recording``):
every channel records 16-bit PCM WAV at 8 kHz, and the interpreter writes it in the
format the application asked for, here and nowhere else.
"""

from __future__ import annotations

import io
import struct
import wave
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from vxdial.domain import g711

RATE_HZ = 8000  # telephone audio: what channels record, what G.711 carries


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to say: the text (for text-to-speech and transcripts), optional SSML, and
    audio files to play instead of the text where the channel can."""

    text: str
    ssml: str | None = None
    audio_urls: tuple[str, ...] = ()
    bargein: bool = True  # keys pressed while it plays stop it


@dataclass(frozen=True, slots=True)
class Spoken:
    """A stretch of a prompt said by text-to-speech: a ``<speak>`` document."""

    ssml: str


@dataclass(frozen=True, slots=True)
class AudioFile:
    """An audio file of a prompt, and what to say when it cannot be played (a
    ``<speak>`` document of the ``<audio>``'s content; None: nothing)."""

    url: str
    fallback: str | None


_SSML_NAMESPACE = "http://www.w3.org/2001/10/synthesis"
_XML_NAMESPACE = "{http://www.w3.org/XML/1998/namespace}"


def prompt_pieces(ssml: str) -> tuple[Spoken | AudioFile, ...]:
    """A prompt's SSML (``Prompt.ssml``) cut at its ``<audio src>`` elements, in the order
    they are said: what text-to-speech says between the files, and the files with their
    content (SSML 1.0 section 3.3.1: said when the file cannot be played). Each spoken
    piece keeps the elements around it (a ``<prosody>`` that spans an audio file goes
    on after it); pieces with nothing to say or pause are left out. Raises
    ``ValueError`` when ``ssml`` is not well-formed XML."""
    try:
        root = ElementTree.fromstring(ssml)
    except ElementTree.ParseError as exc:
        raise ValueError(f"the prompt's SSML is not well-formed: {exc}") from None
    head = "<speak" + _attributes(root, xmlns=True) + ">"
    pieces: list[Spoken | AudioFile] = []
    around: list[ElementTree.Element] = []  # the open elements inside <speak>
    said: list[str] = []
    audible = False

    def opened() -> str:
        return "".join(_start(element) for element in around)

    def closed() -> str:
        return "".join(f"</{_name(element)}>" for element in reversed(around)) + "</speak>"

    def cut() -> None:
        nonlocal audible
        if audible:
            pieces.append(Spoken(head + "".join(said) + closed()))
        said[:] = [opened()]
        audible = False

    def text(value: str | None) -> None:
        nonlocal audible
        if value:
            said.append(escape(value))
            audible = audible or bool(value.strip())

    def walk(element: ElementTree.Element) -> None:
        nonlocal audible
        text(element.text)
        for child in element:
            if _name(child) == "audio" and child.get("src"):
                cut()
                fallback = head + opened() + _inner(child) + closed() if _audible(child) else None
                pieces.append(AudioFile(child.get("src", ""), fallback))
            else:
                said.append(_start(child))
                around.append(child)
                walk(child)
                around.pop()
                said.append(f"</{_name(child)}>")
                audible = audible or _name(child) == "break"
            text(child.tail)

    walk(root)
    cut()
    return tuple(pieces)


def _name(element: ElementTree.Element) -> str:
    return element.tag.rpartition("}")[2]


def _attributes(element: ElementTree.Element, *, xmlns: bool = False) -> str:
    written = [f" xmlns={quoteattr(_SSML_NAMESPACE)}"] if xmlns else []
    for name, value in element.attrib.items():
        if name.startswith(_XML_NAMESPACE):
            name = "xml:" + name.removeprefix(_XML_NAMESPACE)
        written.append(f" {name.rpartition('}')[2] if name.startswith('{') else name}")
        written.append(f"={quoteattr(value)}")
    return "".join(written)


def _start(element: ElementTree.Element) -> str:
    return f"<{_name(element)}{_attributes(element)}>"


def _inner(element: ElementTree.Element) -> str:
    """The content of ``element`` as SSML text."""
    body = [escape(element.text or "")]
    for child in element:
        body.append(_start(child) + _inner(child) + f"</{_name(child)}>")
        body.append(escape(child.tail or ""))
    return "".join(body)


def _audible(element: ElementTree.Element) -> bool:
    """Whether ``element``'s content says or pauses anything."""
    return any(text.strip() for text in element.itertext()) or any(
        _name(each) in ("break", "audio") for each in element.iter() if each is not element
    )


@dataclass(frozen=True, slots=True)
class Collected:
    """Keys the callee pressed, and why collection stopped."""

    digits: str
    # "termchar" | "maxdigits" | "interdigit" (timeout after some keys) | "noinput"
    # | "complete" (the grammars can take no more keys)
    ended_by: str
    termchar: str | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """What ``record`` captured: ``audio`` is a WAV file (16-bit mono PCM at 8 kHz, as
    ``pcm16_wav`` writes it); ``duration_s`` 0 means nothing was heard (the caller stayed
    silent). ``termchar`` is the key that ended it (when DTMF may end it),
    ``max_time_reached`` whether the maximum time did."""

    audio: bytes
    duration_s: float
    termchar: str | None = None
    max_time_reached: bool = False


# How a transfer ended (VoiceXML 2.0 section 2.3.7, the values of its form item variable):
# "busy" / "network_busy" the far end or the network refused it, "noanswer" nobody
# answered within the connect timeout; for a bridged transfer that connected, who ended
# it: "near_end_disconnect" (the caller, with a key the application listens for),
# "far_end_disconnect" (the called party), "maxtime_disconnect" (the maximum time ran
# out); "unknown" otherwise, and for a blind transfer that was handed over.
TransferOutcome = Literal[
    "busy",
    "noanswer",
    "near_end_disconnect",
    "far_end_disconnect",
    "maxtime_disconnect",
    "network_busy",
    "unknown",
]


@dataclass(frozen=True, slots=True)
class TransferResult:
    outcome: TransferOutcome
    duration_s: float = 0.0  # how long the transferred call was connected


def pcm16_wav(pcm: bytes, rate_hz: int = RATE_HZ) -> bytes:
    """A WAV file (16-bit mono PCM) holding ``pcm`` (16-bit signed little-endian)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(pcm)
    return buffer.getvalue()


def silence_wav(duration_s: float, *, rate_hz: int = RATE_HZ) -> bytes:
    """A WAV file (16-bit mono PCM) of ``duration_s`` seconds of silence."""
    return pcm16_wav(b"\0\0" * max(0, round(duration_s * rate_hz)), rate_hz)


# -- the formats of a recording (VoiceXML 2.0 section 2.3.6 and appendix E) ----------

Encoding = Literal["pcm16", "PCMU", "PCMA"]  # 16-bit linear, G.711 µ-law, G.711 A-law

# The WAV media types, and the codec parameter of RFC 2361 (the WAVE format tag, in
# hexadecimal) that picks the samples' encoding inside the file.
_WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
_WAV_CODECS: dict[int, Encoding] = {0x0001: "pcm16", 0x0006: "PCMA", 0x0007: "PCMU"}
_WAV_FORMAT_TAGS: dict[Encoding, int] = {encoding: tag for tag, encoding in _WAV_CODECS.items()}
RECORDING_TYPES = "audio/wav, audio/x-wav, audio/basic and audio/x-alaw-basic"


class UnsupportedFormat(ValueError):
    """A recording format that cannot be written; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class RecordingFormat:
    """How a recording is written: ``media_type`` (the recording variable's ``type``, the
    Content-Type of a submitted file part), the file name ``extension`` that says what
    its bytes are, the samples' ``encoding``, and whether they are in a WAV file (else
    headerless, 8 kHz mono)."""

    media_type: str
    extension: str
    encoding: Encoding
    wav: bool


def recording_format(media_type: str) -> RecordingFormat:
    """The format ``<record type>`` asks for (VoiceXML 2.0 section 2.3.6; the formats of
    its appendix E): the WAV types (16-bit PCM, or as their RFC 2361 ``codec``
    parameter says: 1 PCM, 6 A-law, 7 µ-law), ``audio/basic`` (headerless 8 kHz µ-law,
    written ``.ul``) and ``audio/x-alaw-basic`` (headerless A-law, ``.al``). Media types
    are compared without case, other parameters are ignored (RFC 2045 section 5.1).
    Raises ``UnsupportedFormat`` for anything else."""
    name, *parameters = media_type.split(";")
    name = name.strip().lower()
    given: dict[str, str] = {}
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        given[key.strip().lower()] = value.strip().strip('"')
    if name in _WAV_TYPES:
        codec = given.get("codec")
        if codec is None:
            return RecordingFormat(name, ".wav", "pcm16", wav=True)
        try:
            encoding = _WAV_CODECS[int(codec, 16)]
        except (ValueError, KeyError):
            raise UnsupportedFormat(
                f"{media_type!r}: codec={codec!r} cannot be written"
                " (1: 16-bit PCM, 6: A-law, 7: µ-law; RFC 2361)"
            ) from None
        return RecordingFormat(name, ".wav", encoding, wav=True)
    if name == "audio/basic":
        return RecordingFormat(name, ".ul", "PCMU", wav=False)
    if name == "audio/x-alaw-basic":
        return RecordingFormat(name, ".al", "PCMA", wav=False)
    raise UnsupportedFormat(f"{media_type!r} cannot be recorded (only {RECORDING_TYPES})")


def encode_recording(wav: bytes, target: RecordingFormat) -> bytes:
    """A channel's recording (``Recording.audio``) written in ``target``. Raises
    ``UnsupportedFormat`` when ``wav`` is not 16-bit mono PCM at 8 kHz."""
    if target.wav and target.encoding == "pcm16":
        return wav  # what every channel records already
    try:
        with wave.open(io.BytesIO(wav), "rb") as source:
            shape = (source.getnchannels(), source.getsampwidth(), source.getframerate())
            pcm = source.readframes(source.getnframes())
    except (wave.Error, EOFError) as exc:
        raise UnsupportedFormat(f"the recording is not a PCM WAV file: {exc}") from exc
    if shape != (1, 2, RATE_HZ):
        channels, width, rate = shape
        raise UnsupportedFormat(
            f"the recording has {channels} channel(s) of {8 * width}-bit samples at"
            f" {rate} Hz, not 16-bit mono at {RATE_HZ} Hz"
        )
    coded = g711.encode(pcm, target.encoding)
    return _g711_wav(coded, target.encoding) if target.wav else coded


def _g711_wav(samples: bytes, encoding: Encoding) -> bytes:
    """A WAV file of G.711 ``samples`` (8 kHz mono): a non-PCM ``fmt `` chunk of 18
    bytes and the ``fact`` chunk (the sample count) that such files carry."""
    fmt = struct.pack("<HHIIHHH", _WAV_FORMAT_TAGS[encoding], 1, RATE_HZ, RATE_HZ, 1, 8, 0)
    body = b"".join(
        (
            b"WAVE",
            b"fmt ",
            struct.pack("<I", len(fmt)),
            fmt,
            b"fact",
            struct.pack("<II", 4, len(samples)),
            b"data",
            struct.pack("<I", len(samples)),
            samples,
            b"\0" * (len(samples) & 1),  # chunks are padded to an even size
        )
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def press_keys(
    digits: str,
    keys: str,
    max_digits: int,
    termchar: str | None,
    complete: Callable[[str], bool] | None,
) -> tuple[str, str | None]:
    """A DTMF collector's rule, shared by every channel: add ``keys`` to ``digits`` until
    one ends the input. Returns the digits and why they ended: "termchar" (the key is
    not among the digits), "complete" (``complete(digits)`` is true; it wins over
    "maxdigits" when one key makes both true), "maxdigits" (``max_digits`` keys, 0: no
    limit), or None (more keys may follow). Keys after the end are not used."""
    for key in keys:
        if termchar and key == termchar:
            return digits, "termchar"
        digits += key
        if complete is not None and complete(digits):
            return digits, "complete"
        if 0 < max_digits <= len(digits):
            return digits, "maxdigits"
    return digits, None


class Hangup(Exception):
    """The far end hung up (or the call was lost): the leg is closed."""

    def __init__(self, cause: str = "hangup") -> None:
        super().__init__(cause)
        self.cause = cause
