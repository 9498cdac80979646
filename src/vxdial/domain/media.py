"""What passes over an answered call's voice channel: prompts out, keys in, hangups.

Shared words of telephony/ (which carries them) and voicexml/ (which produces and
consumes them); pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    ended_by: str
    termchar: str | None = None


class Hangup(Exception):
    """The far end hung up (or the call was lost): the leg is closed."""

    def __init__(self, cause: str = "hangup") -> None:
        super().__init__(cause)
        self.cause = cause
