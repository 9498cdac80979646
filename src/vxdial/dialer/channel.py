"""The VoiceXML channel of an answered call: the driver's leg, with a transcript.

Every prompt played, every key group collected, every recording and transfer becomes an
event of the call's history (its transcript), kept in memory and written with the
attempt's end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from vxdial.domain.clock import Clock
from vxdial.domain.media import Collected, Prompt, Recording, TransferResult
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
        complete: Callable[[str], bool] | None = None,
    ) -> Collected:
        collected = await self._leg.collect(
            max_digits=max_digits,
            timeout_s=timeout_s,
            interdigit_timeout_s=interdigit_timeout_s,
            termchar=termchar,
            already=already,
            complete=complete,
        )
        if collected.ended_by == "noinput":
            self.note("noinput")
        else:
            self.note("dtmf", collected.digits + (collected.termchar or ""))
        return collected

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> Recording:
        """Records through the leg; the event says how long and how it ended (the audio
        itself stays with the application, which may submit it)."""
        recording = await self._leg.record(
            max_time_s=max_time_s, final_silence_s=final_silence_s, dtmf_term=dtmf_term, beep=beep
        )
        ended = recording.termchar or (
            "the maximum time" if recording.max_time_reached else "silence"
        )
        self.note("record", f"{recording.duration_s:g} s, ended by {ended}")
        return recording

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> TransferResult:
        # One event, at the time the transfer started; a call that ends during it (a
        # hangup, or our cancel) still leaves the destination in the transcript.
        at = self._clock.now()
        kind = "bridge" if bridge else "blind"
        try:
            result = await self._leg.transfer(
                destination=destination,
                bridge=bridge,
                connect_timeout_s=connect_timeout_s,
                max_time_s=max_time_s,
            )
        except BaseException:
            self.note("transfer", f"{kind} {destination}", at=at)
            raise
        connected = f" after {result.duration_s:g} s" if result.duration_s else ""
        self.note("transfer", f"{kind} {destination}: {result.outcome}{connected}", at=at)
        return result

    async def hangup(self) -> None:
        await self._leg.hangup()
