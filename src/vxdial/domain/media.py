"""What passes over an answered call's voice channel: prompts out, keys in, recordings,
transfers, hangups.

Shared words of telephony/ (which carries them) and voicexml/ (which produces and
consumes them); pure data, and ``silence_wav`` to make a recording without a sound card.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to say: the text (for text-to-speech and transcripts), optional SSML, and
    audio files to play instead of the text where the channel can."""

    text: str
    ssml: str | None = None
    audio_urls: tuple[str, ...] = ()
    bargein: bool = True  # keys pressed while it plays stop it


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
    """What ``record`` captured: ``audio`` is a WAV file (RIFF, PCM); ``duration_s`` 0
    means nothing was heard (the caller stayed silent). ``termchar`` is the key that
    ended it (when DTMF may end it), ``max_time_reached`` whether the maximum time did."""

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


def silence_wav(duration_s: float, *, rate_hz: int = 8000) -> bytes:
    """A WAV file (16-bit mono PCM) of ``duration_s`` seconds of silence."""
    frames = max(0, round(duration_s * rate_hz))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(b"\0\0" * frames)
    return buffer.getvalue()


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
