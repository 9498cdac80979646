"""The channel the interpreter speaks through: all it needs from a phone call.

Telephony call legs (telephony.base.CallLeg), `vxdial try`'s terminal and test fakes
implement it. Every method but ``hangup`` raises ``media.Hangup`` when the caller hangs
up, which the interpreter turns into ``connection.disconnect.hangup``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from vxdial.domain.media import Collected, Prompt, Recording, TransferResult


class Channel(Protocol):
    async def play(self, prompt: Prompt) -> str:
        """Say ``prompt``; returns keys pressed meanwhile (it stops early on a key only
        if ``prompt.bargein``). ``prompt.ssml`` (a ``<speak>`` document) says the same as
        ``prompt.text`` with its markup and audio in order; ``prompt.audio_urls`` are
        the audio files it plays, already fetched once by the interpreter."""
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
        """Wait for keys (``already``: those typed during the last prompt, counted
        first). Collection ends at ``termchar`` (not among the digits), after
        ``max_digits`` keys (0: no limit), ``interdigit_timeout_s`` after the last key,
        "noinput" after ``timeout_s`` with no key, or as soon as ``complete(digits)`` is
        true (ended_by "complete": the active grammars accept these keys and no key can
        extend them; asked after each key, and "complete" wins when the same key also
        reaches ``max_digits``)."""
        ...

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> Recording:
        """Record the caller (``<record>``): a tone first if ``beep``; ends after
        ``final_silence_s`` of silence following speech, at ``max_time_s`` (0: no
        limit), or (if ``dtmf_term``) on any key. A caller who says nothing gives
        ``duration_s`` 0 (the simulated channels wait ``final_silence_s`` for speech
        first)."""
        ...

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> TransferResult:
        """Transfer the caller to ``destination`` (a tel: or sip: URI), giving up after
        ``connect_timeout_s`` without an answer. ``bridge``: the application stays on the
        call and resumes when the transferred call ends (at the latest after
        ``max_time_s``, 0 for no limit), or failed. Blind (``bridge`` False): returns
        once the call is handed over, with outcome "unknown", and the call is over for
        us; or, if the far end could not be reached, "busy", "noanswer" or
        "network_busy" with the caller still on the line."""
        ...

    async def hangup(self) -> None:
        """End the call (``<disconnect>``, ``<exit>``, the end of the application)."""
        ...
