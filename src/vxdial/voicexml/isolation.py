"""Running sessions off the caller's event loop, so that no document can stall it.

A customer's document decides how much CPU its session spends: scripts (bounded per
evaluation by ``Limits.script_time_s``), thousands of form items, ``<foreach>`` over a
huge array, grammar tag scripts. On the event loop that serves HTTP, paces RTP and
dials, every one of those milliseconds is a millisecond of everyone else's latency
(issue 12: ten 0.9 s scripts stalled /healthz for 8.9 s). ``SessionThreads`` runs the
interpreter on a few threads of its own, each with an event loop hosting many sessions,
and sends every channel and fetcher call back to the caller's loop, where the call leg
and the HTTP client live:

- QuickJS gives the GIL up while it evaluates, so a spinning script costs the serving
  loop nothing but a core;
- the interpreter's own Python work competes for the GIL, which CPython hands over at
  least every switch interval (``sys.getswitchinterval()``), and gives its loop a turn
  every 10 ms of its CPU (``interpreter._TURN_EVERY_S``), so the sessions that share its
  thread go on; a session's CPU is bounded as a whole by ``Limits.session_cpu_s``
  (``meter.Meter``: its own CPU, not its thread's);
- a session stuck in one evaluation holds up the sessions of its thread for at most
  ``script_time_s``, never the service; more threads make that rarer, at the cost of more
  GIL hand-overs (``[voicexml] session_threads``);
- a thread per session was measured first: it cost twice the CPU of a short session
  (thread and loop made and closed for each, about 1,000 threads at 1,000 lines) and
  halved the dialer's calls per second (BENCHMARKS.md);
- the threads never run at a real-time priority: a thread inherits its creator's
  scheduling policy, and a serving loop run under SCHED_RR (docs/MEDIA.md) would
  otherwise hand it to every customer's scripts, which could then starve the machine.

``Channel.collect``'s ``complete`` callback runs on the caller's loop, as the channel
calls it there; it only reads the grammars' structure, never the engine, which belongs
to the session's thread.

Cancelling the caller's task (a hang-up, ``max_call_s``, shutdown) cancels the session
on its thread; it ends when the interpreter has unwound: at its next turn (every 10 ms of
CPU at most), or when a running evaluation ends (at the latest at its time limit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import uvloop

from vxdial.domain.media import Collected, Prompt, Recording, TransferResult
from vxdial.voicexml.channel import Channel
from vxdial.voicexml.fetch import Document, Fetcher, FetchRequest
from vxdial.voicexml.interpreter import run_session
from vxdial.voicexml.session import Limits, SessionEnd

__all__ = ["SessionThreads", "run_isolated"]

T = TypeVar("T")
DEFAULT_THREADS = 4
# How long a cancelled caller waits for the session to unwind on its thread before it
# goes on (the session still finishes by itself).
_UNWIND_S = 5.0


class SessionThreads:
    """``count`` threads, each running an event loop on which sessions run; made when
    first needed, ended by ``close()`` (sessions still running are cancelled)."""

    def __init__(self, count: int = DEFAULT_THREADS) -> None:
        if count < 1:
            raise ValueError("SessionThreads needs at least one thread")
        self._count = count
        self._hosts: list[_Host] = []
        self._lock = threading.Lock()

    async def run(
        self,
        start: FetchRequest,
        *,
        channel: Channel,
        fetcher: Fetcher,
        session: Mapping[str, object],
        limits: Limits = Limits(),
    ) -> SessionEnd:
        """``run_session`` on one of the threads (the one with the fewest sessions);
        ``channel`` and ``fetcher`` are used on the caller's loop. Same contract as
        ``run_session``."""
        home = asyncio.get_running_loop()
        host = self._pick()
        coroutine = run_session(
            start,
            channel=_ChannelProxy(channel, home),
            fetcher=_FetcherProxy(fetcher, home),
            session=session,
            limits=limits,
        )
        hosted = _Hosted(coroutine, lambda: self._ended(host))
        try:
            host.loop.call_soon_threadsafe(hosted.start)
        except RuntimeError:  # the host's loop is closed (close() ran)
            coroutine.close()
            self._ended(host)
            raise
        waiting = asyncio.wrap_future(hosted.outcome)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            with contextlib.suppress(RuntimeError):
                host.loop.call_soon_threadsafe(hosted.cancel)  # after start: FIFO
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(waiting), _UNWIND_S)
            # Nobody reads how a session given up on ends (and asyncio would say so).
            waiting.add_done_callback(_ignore)
            raise

    def _pick(self) -> _Host:
        with self._lock:
            if len(self._hosts) < self._count:
                host = _Host(f"vxml-sessions-{len(self._hosts) + 1}")
                self._hosts.append(host)
            else:
                host = min(self._hosts, key=lambda each: each.sessions)
            host.sessions += 1
            return host

    def _ended(self, host: _Host) -> None:
        with self._lock:
            host.sessions -= 1

    @property
    def sessions(self) -> int:
        """Sessions running now, on all threads."""
        with self._lock:
            return sum(host.sessions for host in self._hosts)

    def close(self) -> None:
        """Cancel what still runs and end the threads (waiting for each at most
        ``_UNWIND_S``)."""
        with self._lock:
            hosts, self._hosts = self._hosts, []
        for host in hosts:
            host.stop()


class _Hosted:
    """One session's task on its host's loop; ``outcome`` is set once it has ended
    (after it unwound, when cancelled)."""

    def __init__(self, coroutine: Coroutine[Any, Any, SessionEnd], ended: Callable[[], None]):
        self._coroutine = coroutine
        self._ended = ended
        self._task: asyncio.Task[SessionEnd] | None = None
        self.outcome: concurrent.futures.Future[SessionEnd] = concurrent.futures.Future()

    def start(self) -> None:  # on the host's loop
        self._task = asyncio.get_running_loop().create_task(self._coroutine)
        self._task.add_done_callback(self._done)

    def cancel(self) -> None:  # on the host's loop
        if self._task is not None:
            self._task.cancel()

    def _done(self, task: asyncio.Task[SessionEnd]) -> None:
        self._ended()
        if task.cancelled():
            self.outcome.cancel()
        elif (error := task.exception()) is not None:
            self.outcome.set_exception(error)
        else:
            self.outcome.set_result(task.result())


class _Host:
    """One thread running an event loop for sessions."""

    def __init__(self, name: str) -> None:
        self.loop = uvloop.new_event_loop()
        self.sessions = 0  # guarded by the SessionThreads' lock
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        _leave_real_time()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = asyncio.all_tasks(self.loop)
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.wait(pending, timeout=_UNWIND_S))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_UNWIND_S + 1)


_default: SessionThreads | None = None
_default_lock = threading.Lock()


async def run_isolated(
    start: FetchRequest,
    *,
    channel: Channel,
    fetcher: Fetcher,
    session: Mapping[str, object],
    limits: Limits = Limits(),
) -> SessionEnd:
    """``SessionThreads.run`` on the process's default threads (made when first used)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SessionThreads()
        threads = _default
    return await threads.run(
        start, channel=channel, fetcher=fetcher, session=session, limits=limits
    )


def _ignore(future: asyncio.Future[SessionEnd]) -> None:
    if not future.cancelled():
        future.exception()


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
    ``home`` is closed (the service stopped before the session unwound).

    Two hand-overs, one each way (``call_soon_threadsafe``), and no concurrent.futures
    Future between them: ``run_coroutine_threadsafe`` + ``wrap_future`` cost a third
    more, on every prompt, key collection and fetch of every call."""
    here = asyncio.get_running_loop()
    answer: asyncio.Future[T] = here.create_future()
    started: list[asyncio.Future[T]] = []

    def settle(done: asyncio.Future[T]) -> None:  # on the session's loop
        if answer.done():
            return
        if done.cancelled():
            answer.cancel()
        elif (error := done.exception()) is not None:
            answer.set_exception(error)
        else:
            answer.set_result(done.result())

    def start() -> None:  # on home
        if answer.cancelled():  # the session gave up before it began
            return
        task = asyncio.ensure_future(work())
        started.append(task)
        task.add_done_callback(lambda done: _hand(here, settle, done))

    home.call_soon_threadsafe(start)
    try:
        return await answer
    except asyncio.CancelledError:
        _hand(home, lambda: started and started[0].cancel())
        raise


def _hand(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any) -> None:
    """``callback(*args)`` on ``loop``, unless it is closed (its side has ended)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


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
