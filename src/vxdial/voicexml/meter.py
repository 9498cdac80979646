"""The CPU a session spends itself, whatever else runs on its thread.

``Limits.session_cpu_s`` bounds a session's CPU. A session shares its thread with other
sessions (voicexml.isolation runs several on each of a few threads; ``vxdial try`` and
the tests run them on the caller's loop), so the thread's CPU time is not the session's:
``Meter`` counts only the time between the moments the session resumes and the moments
it awaits something (the channel, the fetcher, a turn of the loop), during which nothing
else runs on the thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vxdial.domain.media import Collected, Prompt, Recording, TransferResult
from vxdial.voicexml.channel import Channel
from vxdial.voicexml.fetch import Document, Fetcher, FetchRequest

__all__ = ["Meter", "MeteredChannel", "MeteredFetcher"]


class Meter:
    """CPU seconds of one session (``time.thread_time`` while it runs)."""

    __slots__ = ("_resumed_at", "_used")

    def __init__(self) -> None:
        self._used = 0.0
        self._resumed_at: float | None = time.thread_time()

    def used(self) -> float:
        running = 0.0 if self._resumed_at is None else time.thread_time() - self._resumed_at
        return self._used + running

    def pause(self) -> None:
        if self._resumed_at is not None:
            self._used += time.thread_time() - self._resumed_at
            self._resumed_at = None

    def resume(self) -> None:
        if self._resumed_at is None:
            self._resumed_at = time.thread_time()


class MeteredChannel:
    """``channel`` with ``meter`` paused while its calls are awaited."""

    def __init__(self, channel: Channel, meter: Meter) -> None:
        self._channel = channel
        self._meter = meter

    async def play(self, prompt: Prompt) -> str:
        self._meter.pause()
        try:
            return await self._channel.play(prompt)
        finally:
            self._meter.resume()

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
        self._meter.pause()
        try:
            return await self._channel.collect(
                max_digits=max_digits,
                timeout_s=timeout_s,
                interdigit_timeout_s=interdigit_timeout_s,
                termchar=termchar,
                already=already,
                complete=complete,
            )
        finally:
            self._meter.resume()

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> Recording:
        self._meter.pause()
        try:
            return await self._channel.record(
                max_time_s=max_time_s,
                final_silence_s=final_silence_s,
                dtmf_term=dtmf_term,
                beep=beep,
            )
        finally:
            self._meter.resume()

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> TransferResult:
        self._meter.pause()
        try:
            return await self._channel.transfer(
                destination=destination,
                bridge=bridge,
                connect_timeout_s=connect_timeout_s,
                max_time_s=max_time_s,
            )
        finally:
            self._meter.resume()

    async def hangup(self) -> None:
        self._meter.pause()
        try:
            await self._channel.hangup()
        finally:
            self._meter.resume()


class MeteredFetcher:
    """``fetcher`` with ``meter`` paused while a fetch is awaited."""

    def __init__(self, fetcher: Fetcher, meter: Meter) -> None:
        self._fetcher = fetcher
        self._meter = meter

    async def fetch(self, request: FetchRequest) -> Document:
        self._meter.pause()
        try:
            return await self._fetcher.fetch(request)
        finally:
            self._meter.resume()
