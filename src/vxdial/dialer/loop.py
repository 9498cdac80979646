"""The dialer loop and the life of one attempt.

Each cycle the loop renews its leases (its heartbeat, which also brings back the
cancel requests for its calls), sweeps (dead workers' calls, expirations, canceled
campaigns), and claims as many due calls as its free lines allow. Claims come with a
calls-per-second slot; each attempt runs as its own task:

    wait for the slot -> dial -> (ringing) -> answered?
        no:  the call is queued again for retry_interval, or failed / expired
        yes: connected is recorded first (an answered call is never dialed again),
             then ;postd= digits, the start_url POST (a GET when the server refuses
             POST: event start_url_get_fallback) and the VoiceXML session, until
             either side hangs up, the application ends, or the maximum duration;
             an unexpected error from then on (event internal_error) hangs up and
             still ends the call completed
    -> the attempt's end, with the transcript, in one write (and the result in the
       outbox if the call is final)

Writes of many attempts share transactions (``store.GroupCommit``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vxdial import voicexml
from vxdial.config import DialerSettings
from vxdial.dialer.channel import RecordingChannel
from vxdial.domain import calls, errors
from vxdial.domain.clock import Clock
from vxdial.domain.media import Hangup
from vxdial.store import GroupCommit, Store
from vxdial.store.leases import Claim, DialLimits
from vxdial.store.queries.attempts import AttemptEnd, Event
from vxdial.telephony import CallLeg, DialRequest, DialResult, Driver

log = logging.getLogger("vxdial.dialer")

CLAIM_BATCH = 500  # calls claimed at most per cycle
PACING_HORIZON_S = 1.0  # calls-per-second slots are handed out this far ahead
SWEEP_EVERY_S = 1.0
CLAIM_GATHER_S = 0.05  # real seconds
# Due calls that no limit lets this worker claim yet are looked for again this often
# (clock seconds): a line freed by another worker, or a calls-per-second slot.
HELD_BACK_S = 0.25
STORE_RETRY_S = 1.0  # real seconds between tries while the database is unavailable
DRAIN_S = 10.0  # on stop, calls up get this long to end before they are cut
MAX_ERROR_DETAIL = 500  # characters of an internal error's message kept in the history


def worker_name() -> str:
    """host:pid:random: unique per process, readable in the attempts table."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Stop:
    """Why an attempt should stop early: its sender (or the admin) canceled the call,
    or this worker is shutting down. The first reason wins."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason: str | None = None  # "cancel" | "shutdown"

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.event.set()


@dataclass
class _Up:
    """A call this worker has up."""

    claim: Claim
    task: asyncio.Task[None]
    stop: _Stop


class Dialer:
    def __init__(
        self,
        *,
        store: Store,
        driver: Driver,
        clock: Clock,
        settings: DialerSettings,
        fetcher: voicexml.Fetcher,
        worker: str | None = None,
        session_limits: voicexml.Limits | None = None,
        session_threads: voicexml.SessionThreads | None = None,
    ) -> None:
        self.store = store
        self.driver = driver
        self.clock = clock
        self.settings = settings
        self.fetcher = fetcher
        self.session_limits = session_limits or voicexml.Limits()
        # Sessions run there, off this loop (None: the process's default threads).
        self.session_threads = session_threads
        self.worker = worker or worker_name()
        self.limits = DialLimits(lines=settings.lines, cps=settings.cps, horizon_s=PACING_HORIZON_S)
        self._up: dict[int, _Up] = {}
        self._rotation = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._ringing: GroupCommit[tuple[int, int, str, datetime], None] = GroupCommit(
            lambda items: store.run(store.mark_ringing, items)
        )
        # An answer and an attempt's end are never dropped: while the database is down
        # they wait for it (the call keeps its line and its lease meanwhile).
        self._connected: GroupCommit[tuple[int, int, str, datetime, str], None] = GroupCommit(
            lambda items: store.run_until_stored(store.mark_connected, items)
        )
        self._ends: GroupCommit[AttemptEnd, bool] = GroupCommit(
            lambda items: store.run_until_stored(store.finish_attempts, items)
        )
        self._store_down = False
        # Figures for /metrics and tests.
        self.attempts_started = 0
        self.attempts_ended_by_outcome: collections.Counter[str] = collections.Counter()
        self.claim_cycles = 0
        self.waits = 0  # times the loop went to sleep
        self.attempts_ended = 0
        self.calls_answered = 0

    @property
    def calls_up(self) -> int:
        return len(self._up)

    async def run(self) -> None:
        """Dial until ``stop()``; then let the calls up end (or cut them after a while).

        Idle, it makes no query: it sleeps until the earliest due time the store knows
        of (``Store.next_work_at``), until work is announced (``Store.on_work``: a call
        queued, a campaign resumed, here or in another process on PostgreSQL) or a call
        of its own ends, and at the latest ``poll_s`` real seconds: the safety net for
        what nobody announces (another process's writes on SQLite), which asks the store
        for that due time (one read) and sweeps and claims only if something is due."""
        lease = timedelta(seconds=self.settings.lease_s)
        next_heartbeat = self.clock.now()
        next_sweep = self.clock.now()
        loop = asyncio.get_running_loop()
        unsubscribe = self.store.on_work(
            lambda kind: _wake_from(loop, self._wake) if kind == "calls" else None
        )
        look = True  # sweep and claim this time round (False: the safety poll woke us)
        log.info("dialer.started worker=%s", self.worker)
        try:
            while not self._stopping.is_set():
                # Cleared before looking: a wake from now on is not lost.
                self._wake.clear()
                now = self.clock.now()
                sleep_s: float | None = None  # in the clock's seconds; None: until woken
                poll_s = self.settings.poll_s  # real seconds
                try:
                    if self._up and now >= next_heartbeat:
                        await self._heartbeat(now, lease)
                        next_heartbeat = now + min(lease / 3, timedelta(seconds=1))
                    if not look:
                        due_s = await self._due_in(now)
                        if due_s is not None and due_s <= 0:
                            look = True
                            continue
                        sleep_s = due_s
                    else:
                        if now >= next_sweep:
                            await self._sweep(now)
                            next_sweep = now + timedelta(seconds=SWEEP_EVERY_S)
                        claimed = await self._claim(now, lease)
                        full = len(self._up) >= self.settings.lines
                        if claimed and not full:
                            continue  # more may be due at once
                        if not full:  # (full: a call ending wakes us)
                            due_s = await self._due_in(now)
                            # Due, yet nothing claimed: held back by a limit (lines of
                            # other workers, calls per second): look again shortly.
                            sleep_s = due_s if due_s is None or due_s > 0 else HELD_BACK_S
                except errors.Unavailable as exc:
                    if not self._store_down:  # once per outage, not once per cycle
                        log.warning("dialer.store_unavailable error=%s", exc)
                    self._store_down = True
                    poll_s = min(poll_s, STORE_RETRY_S)
                else:
                    if self._store_down:
                        log.info("dialer.store_available worker=%s", self.worker)
                        self._store_down = False
                if self._up:
                    until_heartbeat = (next_heartbeat - now).total_seconds()
                    sleep_s = until_heartbeat if sleep_s is None else min(sleep_s, until_heartbeat)
                self.waits += 1
                waits: list[Coroutine[Any, Any, object]] = [
                    self._wake.wait(),
                    self._stopping.wait(),
                ]
                if sleep_s is not None:
                    waits.append(self.clock.sleep(sleep_s))
                # The safety net, in real time whatever --sim-speed: it bounds CPU. Last:
                # when it ends together with another, the other one counts.
                waits.append(asyncio.sleep(poll_s))
                first = await _first_of(*waits)
                look = first != len(waits) - 1
                if first == 0:
                    # Woken by a call ending: let a few more end, so one claim fills
                    # several lines (a claim is a serialized transaction of several
                    # statements; one per ended call was most of the work at 500
                    # calls/s). Real time: what it saves is database work.
                    await _first_of(self._stopping.wait(), asyncio.sleep(CLAIM_GATHER_S))
        finally:
            unsubscribe()
            await self._drain()
            log.info(
                "dialer.stopped worker=%s attempts=%d claim_cycles=%d",
                self.worker,
                self.attempts_started,
                self.claim_cycles,
            )

    async def _sweep(self, now: datetime) -> None:
        swept = await self.store.run(self.store.sweep, now=now, lease_s=self.settings.lease_s)
        if any(swept.values()):
            log.info("dialer.swept %s", " ".join(f"{k}={v}" for k, v in swept.items()))

    async def _due_in(self, now: datetime) -> float | None:
        """Clock seconds until the earliest due time the store knows of (0 or less: due
        now); None if nothing is due at all."""
        due = await self.store.run(self.store.next_work_at, now)
        return None if due is None else (due - now).total_seconds()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run_until_idle(self, *, idle_cycles: int = 3) -> None:
        """For tests: dial until nothing is up and nothing was claimed for a few cycles."""
        lease = timedelta(seconds=self.settings.lease_s)
        quiet = 0
        while quiet < idle_cycles:
            now = self.clock.now()
            await self._heartbeat(now, lease)
            await self.store.run(self.store.sweep, now=now, lease_s=self.settings.lease_s)
            claimed = await self._claim(now, lease)
            if self._up:
                await asyncio.wait([up.task for up in self._up.values()])
                quiet = 0
            elif claimed == 0:
                quiet += 1

    # -- the loop's parts -----------------------------------------------------------------

    async def _heartbeat(self, now: datetime, lease: timedelta) -> None:
        canceled = await self.store.run(
            self.store.heartbeat,
            worker=self.worker,
            now=now,
            lease_until=now + lease,
            holding=set(self._up),
        )
        for call_id in canceled:
            up = self._up.get(call_id)
            if up is not None and up.stop.reason is None:
                log.info("dialer.cancel_requested call_id=%d", call_id)
                up.stop.request("cancel")

    async def _claim(self, now: datetime, lease: timedelta) -> int:
        free = self.settings.lines - len(self._up)
        if free <= 0:
            return 0
        claims = await self.store.run(
            self.store.claim_calls,
            worker=self.worker,
            now=now,
            lease_until=now + lease,
            limits=self.limits,
            max_claims=min(free, CLAIM_BATCH),
            rotation=self._rotation,
        )
        self._rotation += 1
        self.claim_cycles += 1
        for claim in claims:
            stop = _Stop()
            task = asyncio.create_task(self._attempt(claim, stop))
            self._up[claim.call.id] = _Up(claim, task, stop)
            task.add_done_callback(functools.partial(self._done, claim.call.id))
        self.attempts_started += len(claims)
        return len(claims)

    def _done(self, call_id: int, _: object = None) -> None:
        self._up.pop(call_id, None)
        self.attempts_ended += 1
        self._wake.set()

    async def _drain(self) -> None:
        """Let the calls up end by themselves for a while, then stop them: unanswered
        attempts are given back (not counted), answered calls hung up."""
        if not self._up:
            return
        tasks = [up.task for up in self._up.values()]
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
        if not pending:
            return
        for up in list(self._up.values()):
            up.stop.request("shutdown")
        _, pending = await asyncio.wait(pending, timeout=DRAIN_S)
        for task in pending:  # a write that cannot finish: the lease will tell
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)

    # -- one attempt ------------------------------------------------------------------------

    async def _attempt(self, claim: Claim, stop: _Stop) -> None:
        call = claim.call
        try:
            end = await self._dial_and_talk(claim, stop)
        except asyncio.CancelledError:
            # Cut at shutdown: the lease runs out and another worker takes it over.
            raise
        except Exception as exc:
            # Before the answer only (``_talk`` keeps every later error to itself): the
            # callee never heard us, so the attempt counts as unreachable and is retried.
            log.exception("dialer.attempt_failed call_id=%d attempt=%d", call.id, claim.attempt)
            end = self._unanswered(
                claim, calls.Outcome.UNREACHABLE, f"internal error: {type(exc).__name__}"
            )
        if end.outcome is not None:
            self.attempts_ended_by_outcome[end.outcome.value] += 1
        try:
            applied = await self._ends.submit(end)
        except errors.Unavailable:
            log.error("dialer.end_not_written call_id=%d: left to the lease", call.id)
            return
        if not applied:
            log.warning("dialer.lease_lost call_id=%d attempt=%d", call.id, claim.attempt)

    async def _dial_and_talk(self, claim: Claim, stop: _Stop) -> AttemptEnd:
        call = claim.call
        wait_s = (claim.dial_at - self.clock.now()).total_seconds()
        if wait_s > 0:
            await _first_of(self.clock.sleep(wait_s), stop.event.wait())
        if stop.reason is not None:
            return self._stopped_unanswered(claim, stop, "before dialing")
        ringing: list[asyncio.Future[None]] = []

        def on_ringing() -> None:
            item = (call.id, claim.attempt, self.worker, self.clock.now())
            ringing.append(asyncio.ensure_future(self._ringing.submit(item)))

        request = DialRequest(
            call_id=call.id,
            attempt=claim.attempt,
            number=call.phone_number,
            caller_id=call.ani,
            postd=call.postd,
            ring_timeout_s=self.settings.ring_timeout_s,
        )
        dialing = asyncio.ensure_future(self.driver.dial(request, on_ringing=on_ringing))
        stopping = asyncio.ensure_future(stop.event.wait())
        try:
            await asyncio.wait({dialing, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not dialing.done():
            dialing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                result = await dialing
                if result.leg is not None:
                    await result.leg.hangup()
            await _settle(ringing)
            return self._stopped_unanswered(claim, stop, "while dialing")
        result = dialing.result()
        await _settle(ringing)
        if not result.outcome.answered or result.leg is None:
            return self._unanswered(claim, result.outcome, result.cause)
        try:
            return await self._talk(claim, result, stop)
        except BaseException:
            with contextlib.suppress(Exception):
                await result.leg.hangup()
            raise

    async def _talk(self, claim: Claim, result: DialResult, stop: _Stop) -> AttemptEnd:
        """The answered call, to its end. Whatever fails from here on (the interpreter,
        the store, the leg), the call ends ``completed``: it was answered, so it is never
        dialed again (issue 12); the error is an event of its history."""
        call = claim.call
        leg = result.leg
        assert leg is not None
        callee_type = (result.callee_type or calls.CalleeType.UNKNOWN).value
        answered_at = self.clock.now()
        channel = RecordingChannel(leg, self.clock, call.id, claim.attempt)
        try:
            # Durable before anything is said: an answered call is never dialed again.
            await self._connected.submit(
                (call.id, claim.attempt, self.worker, answered_at, callee_type)
            )
            self.calls_answered += 1
            cause = await self._converse(claim, leg, channel, callee_type, stop)
        except Exception as exc:
            cause = self._internal_error(claim, channel, exc)
        # The application hangs up when it ends; this is the safety net for every other
        # way out (a no-op on a leg already closed).
        with contextlib.suppress(Exception):
            await leg.hangup()
        ended_at = self.clock.now()
        channel.note("disconnected", cause, at=ended_at)
        return AttemptEnd(
            call=call,
            attempt=claim.attempt,
            worker=self.worker,
            outcome=calls.Outcome.ANSWER,
            cause=cause or result.cause,
            callee_type=callee_type,
            ended_at=ended_at,
            state=calls.CallState.COMPLETED,
            next_attempt_at=None,
            duration_s=max(0, round((ended_at - answered_at).total_seconds())),
            events=channel.events,
        )

    async def _converse(
        self, claim: Claim, leg: CallLeg, channel: RecordingChannel, callee_type: str, stop: _Stop
    ) -> str:
        """Run the session until it ends, the call is stopped, or it lasts too long;
        returns why the call ended."""
        session = asyncio.ensure_future(self._session(claim, leg, channel, callee_type))
        stopping = asyncio.ensure_future(stop.event.wait())
        too_long = asyncio.ensure_future(self.clock.sleep(self.settings.max_call_s))
        try:
            done, _ = await asyncio.wait(
                {session, stopping, too_long}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
            too_long.cancel()
            if not session.done():
                session.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await session
        if session in done:
            if session.cancelled():  # not by us: nothing in the session should do that
                raise RuntimeError("the VoiceXML session was cancelled")
            return session.result()  # raises what the session raised
        return {
            "cancel": "canceled by request; hung up",
            "shutdown": "the worker stopped; hung up",
        }.get(stop.reason or "", f"maximum call duration ({self.settings.max_call_s:g} s)")

    def _internal_error(self, claim: Claim, channel: RecordingChannel, exc: Exception) -> str:
        """Record an unexpected error of an answered call: the traceback in the log, the
        exception's class and message in the call's history; returns the end's cause."""
        call = claim.call
        log.exception(
            "dialer.internal_error call_id=%d attempt=%d error=%s",
            call.id,
            claim.attempt,
            type(exc).__name__,
        )
        detail = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_DETAIL]
        # Past the transcript's cap too: this is the event that explains the call's end.
        channel.events.append(
            Event(call.id, self.clock.now(), claim.attempt, "internal_error", detail)
        )
        return f"internal error ({type(exc).__name__}); hung up"

    async def _session(
        self, claim: Claim, leg: CallLeg, channel: RecordingChannel, callee_type: str
    ) -> str:
        """Run the call's application; returns why the call ended."""
        call = claim.call
        try:
            if call.postd:
                await leg.send_dtmf(call.postd)
                channel.note("postd", call.postd)
            start = voicexml.FetchRequest(
                call.settings.start_url, method="POST", data=start_fields(claim)
            )

            def fell_back(status: int, url: str) -> None:
                # A static file server refusing the POST (voicexml/start.py): said in the
                # call's history, since the application now reads its fields from the query.
                channel.note(
                    "start_url_get_fallback",
                    f"POST answered HTTP {status}; fetched again with GET, the fields in the query",
                )
                log.info("dialer.start_url_get_fallback call_id=%d status=%d", call.id, status)

            # Off this loop: no document can stall it (HTTP, RTP, dialing).
            run = (
                voicexml.run_isolated if self.session_threads is None else self.session_threads.run
            )
            end = await run(
                start,
                channel=channel,
                fetcher=voicexml.StartFetcher(voicexml.for_call(self.fetcher), start, fell_back),
                session=session_variables(claim, callee_type),
                limits=self.session_limits,
            )
        except Hangup as exc:
            return f"callee hung up ({exc.cause})"
        detail = end.reason if end.event is None else f"{end.reason}: {end.event}"
        if end.message:
            detail += f" ({end.message})"
        if end.reason == "error":
            channel.note("application_error", detail)
        return {
            "hangup": "callee hung up",
            "disconnect": "the application disconnected",
            "exit": "the application exited",
            "end": "the application ended",
        }.get(end.reason, f"the application failed: {detail}")

    def _unanswered(self, claim: Claim, outcome: calls.Outcome, cause: str) -> AttemptEnd:
        now = self.clock.now()
        state, next_at = calls.after_unanswered(claim.call.settings, claim.attempt, now)
        return AttemptEnd(
            call=claim.call,
            attempt=claim.attempt,
            worker=self.worker,
            outcome=outcome,
            cause=cause,
            callee_type=outcome.value,
            ended_at=now,
            state=state,
            next_attempt_at=next_at,
            duration_s=0,
            events=[
                Event(claim.call.id, now, claim.attempt, "disconnected", f"{outcome}: {cause}")
            ],
        )

    def _stopped_unanswered(self, claim: Claim, stop: _Stop, when: str) -> AttemptEnd:
        """Canceled by request (final), or given back at shutdown (queued again now, the
        attempt not counted: the next worker to run dials it)."""
        now = self.clock.now()
        given_back = stop.reason == "shutdown"
        return AttemptEnd(
            call=claim.call,
            attempt=claim.attempt,
            worker=self.worker,
            outcome=None,
            cause=f"the worker stopped {when}" if given_back else f"canceled {when}",
            callee_type=claim.call.callee_type,
            ended_at=now,
            state=calls.CallState.QUEUED if given_back else calls.CallState.CANCELED,
            next_attempt_at=now if given_back else None,
            duration_s=0,
            given_back=given_back,
        )


def start_fields(claim: Claim) -> dict[str, str]:
    """What vxdial POSTs to start_url on answer (PRODUCT.md section 3)."""
    call = claim.call
    return {
        "call_id": str(call.id),
        "phone_number": call.phone_number,
        "message_reference": call.message_reference or "",
        "call_parameters": call.call_parameters or "",
        "campaign_id": str(call.campaign_id),
        "campaign_name": call.campaign_name,
        "attempt": str(claim.attempt),
    }


def session_variables(claim: Claim, callee_type: str) -> dict[str, object]:
    """The VoiceXML ``session.*`` variables of an answered call (PRODUCT.md section 5)."""
    call = claim.call
    return {
        "telephone": {"ani": call.ani or "", "dnis": call.phone_number},
        "connection": {
            "callee_type": callee_type,
            "local": {"uri": f"tel:+{call.ani}" if call.ani else ""},
            "remote": {"uri": f"tel:+{call.phone_number}"},
            "protocol": {"name": "sip", "version": "2.0"},
        },
        "call_id": call.id,
        "message_reference": call.message_reference or "",
        "call_parameters": call.call_parameters or "",
        "campaign_id": call.campaign_id,
        "campaign_name": call.campaign_name,
        "attempt": claim.attempt,
    }


def _wake_from(loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> None:
    """Set ``wake`` on ``loop`` from any thread (store announcements come from the
    thread of the write)."""
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to wake
        loop.call_soon_threadsafe(wake.set)


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> int:
    """Wait until the first of ``waits`` ends; cancel the others; returns the index of
    the one that ended (the lowest, if several did)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    return min(tasks.index(task) for task in done)


async def _settle(futures: list[asyncio.Future[None]]) -> None:
    """Wait for the ringing writes (their end must not overtake them)."""
    for future in futures:
        with contextlib.suppress(Exception):
            await future
