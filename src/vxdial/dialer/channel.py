"""The VoiceXML channel of an answered call: the driver's leg, with a transcript.

Every prompt played and every key group collected becomes an event of the call's
history (its transcript), kept in memory and written with the attempt's end.
"""

from __future__ import annotations

from datetime import datetime

from vxdial.domain.clock import Clock
from vxdial.domain.media import Collected, Prompt
from vxdial.store.queries.attempts import Event
from vxdial.telephony import CallLeg

MAX_TRANSCRIPT_EVENTS = 500  # a looping application must not grow a call's history forever


class RecordingChannel:
    """A ``voicexml.channel.Channel`` over a ``CallLeg``."""

    def __init__(self, leg: CallLeg, clock: Clock, call_id: int, attempt: int) -> None:
        self._leg = leg
        self._clock = clock
        self._call_id = call_id
        self._attempt = attempt
        self.events: list[Event] = []

    def note(self, kind: str, detail: str | None = None, at: datetime | None = None) -> None:
        if len(self.events) < MAX_TRANSCRIPT_EVENTS:
            self.events.append(
                Event(self._call_id, at or self._clock.now(), self._attempt, kind, detail)
            )

    async def play(self, prompt: Prompt) -> str:
        self.note("prompt", prompt.text)
        typed = await self._leg.play(prompt)
        if typed:
            self.note("dtmf", typed)
        return typed

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        interdigit_timeout_s: float,
        termchar: str | None = "#",
        already: str = "",
    ) -> Collected:
        collected = await self._leg.collect(
            max_digits=max_digits,
            timeout_s=timeout_s,
            interdigit_timeout_s=interdigit_timeout_s,
            termchar=termchar,
            already=already,
        )
        if collected.ended_by == "noinput":
            self.note("noinput")
        else:
            self.note("dtmf", collected.digits + (collected.termchar or ""))
        return collected

    async def hangup(self) -> None:
        await self._leg.hangup()
