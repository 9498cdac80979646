"""The telephony driver interface: what the dialer needs from a carrier.

Like an httpx transport, a strict point of cut-off: ``Driver.dial`` places one call and
waits for its outcome; an answered call comes with a ``CallLeg``, the voice channel the
VoiceXML session speaks through. Busy, no answer, rejected and unreachable are
``Outcome`` values in the result, not exceptions, and so is a transfer's outcome. The far
end hanging up raises ``Hangup`` from whatever leg operation is waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vxdial.domain import calls
from vxdial.domain.media import Collected, Hangup, Prompt, Recording, TransferResult

__all__ = [
    "CallLeg",
    "Collected",
    "DialRequest",
    "DialResult",
    "Driver",
    "Hangup",
    "Prompt",
    "Recording",
    "TransferResult",
]


@dataclass(frozen=True, slots=True)
class DialRequest:
    call_id: int
    attempt: int  # 1 for the first attempt
    number: str  # E.164 digits, no "+"
    caller_id: str | None  # E.164 digits (;ani= of the call), or the driver's default
    # The call's ;postd= digits (RFC 3966 post-dial: digits, p, w). For the driver's
    # information only: the dialer sends them with CallLeg.send_dtmf once answered.
    postd: str | None
    ring_timeout_s: float


@dataclass(frozen=True, slots=True)
class DialResult:
    outcome: calls.Outcome
    cause: str  # what the carrier said: "SIP 486 Busy Here", "sim: busy", "ring timeout"
    callee_type: calls.CalleeType | None = None  # for answered calls
    leg: CallLeg | None = None  # for answered calls: the open voice channel


class CallLeg(Protocol):
    """The voice channel of an answered call (a ``voicexml.channel.Channel``, whose
    docstrings give the full contract of each operation).

    Every operation but ``hangup`` raises ``Hangup`` when the far end hangs up; after
    ``hangup()`` (ours), a ``Hangup`` or a blind transfer that handed the call over, the
    leg is closed: its operations raise ``Hangup`` at once and ``hangup()`` is a no-op.
    """

    callee_type: calls.CalleeType
    heard: list[str]  # the text of every prompt played, in order (the transcript)

    async def play(self, prompt: Prompt) -> str:
        """Play ``prompt``; returns keys pressed meanwhile ("" if none; stops early only
        if ``prompt.bargein``)."""
        ...

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        interdigit_timeout_s: float,
        termchar: str | None = "#",
        already: str = "",
        complete: Callable[[str], bool] | None = None,
    ) -> Collected:
        """Wait for keys; ``already`` holds keys typed during the last prompt. Ends at
        ``termchar``, ``max_digits`` (0: no limit), a timeout, or as soon as
        ``complete(digits)`` is true (ended_by "complete")."""
        ...

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> Recording:
        """Record the far end (a tone first if ``beep``) until ``final_silence_s`` of
        silence after speech, ``max_time_s`` (0: no limit), or a key if ``dtmf_term``."""
        ...

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> TransferResult:
        """Transfer the far end to ``destination``; bridged: wait until that call ends
        (at the latest after ``max_time_s``, 0: no limit). A blind transfer that is
        handed over gives outcome "unknown" and closes the leg."""
        ...

    async def send_dtmf(self, digits: str) -> None:
        """Send DTMF to the far end (";postd=")."""
        ...

    async def hangup(self) -> None:
        """End the call from our side."""
        ...


class Driver(Protocol):
    """A carrier. ``aclose()`` must be called once the dialer is done with it."""

    async def dial(
        self, request: DialRequest, *, on_ringing: Callable[[], None] | None = None
    ) -> DialResult:
        """Place the call and wait until it is answered or has failed (the ring timeout
        included). ``on_ringing`` is called when the far end alerts. Cancelling the
        awaiting task abandons the attempt (a SIP CANCEL) and re-raises."""
        ...

    async def aclose(self) -> None: ...
