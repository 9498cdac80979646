"""The channel the interpreter speaks through: all it needs from a phone call.

Telephony call legs (telephony.base.CallLeg), `vxdial try`'s terminal and test fakes
implement it. ``play`` and ``collect`` raise ``media.Hangup`` when the caller hangs up,
which the interpreter turns into ``connection.disconnect.hangup``.
"""

from __future__ import annotations

from typing import Protocol

from vxdial.domain.media import Collected, Prompt


class Channel(Protocol):
    async def play(self, prompt: Prompt) -> str:
        """Say ``prompt``; returns keys pressed meanwhile (it stops early on a key only
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
    ) -> Collected:
        """Wait for keys (``already``: those typed during the last prompt)."""
        ...

    async def hangup(self) -> None:
        """End the call (``<disconnect>``, ``<exit>``, the end of the application)."""
        ...
