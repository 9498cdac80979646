"""Running a session on a thread of its own, so that no document can stall the process.

A customer's document decides how much CPU its session spends: scripts (bounded per
evaluation by ``Limits.script_time_s``), thousands of form items, ``<foreach>`` over a
huge array, grammar tag scripts. On the event loop that serves HTTP, paces RTP and
dials, every one of those milliseconds is a millisecond of everyone else's latency
(issue 12: ten 0.9 s scripts stalled /healthz for 8.9 s). ``run_isolated`` runs the
interpreter on a thread with its own event loop instead, and sends every channel and
fetcher call back to the caller's loop, where the call leg and the HTTP client live:

- QuickJS gives the GIL up while it evaluates, so a spinning script costs the serving
  loop nothing but a core;
- the interpreter's own Python work competes for the GIL, which CPython hands over at
  least every switch interval (``sys.getswitchinterval()``); a session's CPU is bounded
  as a whole by ``Limits.session_cpu_s`` (measured with ``time.thread_time``: exact
  here, where the thread runs one session only);
- one session per thread: a session stuck in a script delays no other session;
- the thread never runs at a real-time priority: a thread inherits its creator's
  scheduling policy, and a serving loop run under SCHED_RR (docs/MEDIA.md) would
  otherwise hand it to every customer's scripts, which could then starve the machine.

``Channel.collect``'s ``complete`` callback runs on the caller's loop, as the channel
calls it there; it only reads the grammars' structure (``inputs.Matcher.accepts``),
never the engine, which belongs to the session's thread.

Cancelling the caller's task (a hang-up, ``max_call_s``, shutdown) cancels the session
on its thread; the thread ends when the interpreter has unwound: the interpreter gives
its loop a turn at least every 10 ms of CPU (``interpreter._TURN_EVERY_S``), or when a
running evaluation ends (at the latest at its time limit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from vxdial.domain.media import Collected, Prompt, Recording, TransferResult
from vxdial.voicexml.channel import Channel
from vxdial.voicexml.fetch import Document, Fetcher, FetchRequest
from vxdial.voicexml.interpreter import run_session
from vxdial.voicexml.session import Limits, SessionEnd

__all__ = ["run_isolated"]

T = TypeVar("T")
_numbers = itertools.count(1)
# How long a cancelled caller waits for the session to unwind on its thread before it
# goes on (the thread still finishes by itself).
_UNWIND_S = 5.0


async def run_isolated(
    start: FetchRequest,
    *,
    channel: Channel,
    fetcher: Fetcher,
    session: Mapping[str, object],
    limits: Limits = Limits(),
) -> SessionEnd:
    """``run_session`` on a new thread with its own event loop; ``channel`` and
    ``fetcher`` are used on the caller's loop. Same contract as ``run_session``."""
    home = asyncio.get_running_loop()
    thread = _SessionThread(
        lambda: run_session(
            start,
            channel=_ChannelProxy(channel, home),
            fetcher=_FetcherProxy(fetcher, home),
            session=session,
            limits=limits,
        ),
        name=f"vxml-session-{next(_numbers)}",
    )
    thread.start()
    waiting = asyncio.wrap_future(thread.outcome)
    try:
        return await asyncio.shield(waiting)
    except asyncio.CancelledError:
        thread.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(waiting), _UNWIND_S)
        # Nobody reads how a session given up on ends (and asyncio would say so).
        waiting.add_done_callback(_ignore)
        raise


def _ignore(future: asyncio.Future[SessionEnd]) -> None:
    if not future.cancelled():
        future.exception()


class _SessionThread:
    """A thread running one coroutine on an event loop of its own."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, SessionEnd]], name: str) -> None:
        self._make = make
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[SessionEnd] | None = None
        self._started = threading.Event()
        self.outcome: concurrent.futures.Future[SessionEnd] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._started.wait()
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)

    def _run(self) -> None:
        _leave_real_time()
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self._task = loop.create_task(self._make())
            self._started.set()
            try:
                result = loop.run_until_complete(self._task)
            except BaseException as exc:  # handed to the caller as it is
                self.outcome.set_exception(exc)
            else:
                self.outcome.set_result(result)
        finally:
            self._started.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _leave_real_time() -> None:
    """Run the calling thread under the normal policy (SCHED_OTHER) if it inherited a
    real-time one (SCHED_RR, SCHED_FIFO); lowering a policy needs no privilege."""
    if not hasattr(os, "sched_getscheduler"):  # not Linux
        return
    if os.sched_getscheduler(0) in (os.SCHED_RR, os.SCHED_FIFO):
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


async def _on(home: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[T]]) -> T:
    """Await ``work()`` on ``home`` (the caller's loop) from the session's loop;
    cancelling the session cancels it there. The awaitable is made on ``home``, so one
    cancelled before it starts is never left unawaited. Raises RuntimeError when
    ``home`` is closed (the service stopped before the session unwound)."""

    async def wrapped() -> T:
        return await work()

    coroutine = wrapped()
    try:
        future = asyncio.run_coroutine_threadsafe(coroutine, home)
    except RuntimeError:
        coroutine.close()  # never started: not "never awaited"
        raise
    return await asyncio.wrap_future(future)


class _ChannelProxy:
    """The caller's channel, seen from the session's thread."""

    def __init__(self, channel: Channel, home: asyncio.AbstractEventLoop) -> None:
        self._channel = channel
        self._home = home

    async def play(self, prompt: Prompt) -> str:
        return await _on(self._home, lambda: self._channel.play(prompt))

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
        return await _on(
            self._home,
            lambda: self._channel.collect(
                max_digits=max_digits,
                timeout_s=timeout_s,
                interdigit_timeout_s=interdigit_timeout_s,
                termchar=termchar,
                already=already,
                complete=complete,
            ),
        )

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> Recording:
        return await _on(
            self._home,
            lambda: self._channel.record(
                max_time_s=max_time_s,
                final_silence_s=final_silence_s,
                dtmf_term=dtmf_term,
                beep=beep,
            ),
        )

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> TransferResult:
        return await _on(
            self._home,
            lambda: self._channel.transfer(
                destination=destination,
                bridge=bridge,
                connect_timeout_s=connect_timeout_s,
                max_time_s=max_time_s,
            ),
        )

    async def hangup(self) -> None:
        await _on(self._home, self._channel.hangup)


class _FetcherProxy:
    """The caller's fetcher (its HTTP session and cache), seen from the session's thread."""

    def __init__(self, fetcher: Fetcher, home: asyncio.AbstractEventLoop) -> None:
        self._fetcher = fetcher
        self._home = home

    async def fetch(self, request: FetchRequest) -> Document:
        return await _on(self._home, lambda: self._fetcher.fetch(request))
