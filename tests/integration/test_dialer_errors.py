"""The dialer's safety net (issue 12, item 4): once a call is answered, whatever fails
(the leg, the interpreter, the store) ends it ``completed`` after one attempt, with the
error in its history; before the answer, a failure is an unreachable attempt, retried.
The dialer with the sim carrier on a fast ScaledClock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import T0
from vxdial.config import DialerSettings, SimRule
from vxdial.dialer import Dialer
from vxdial.dialer.channel import MAX_TRANSCRIPT_EVENTS
from vxdial.domain import calls, campaigns, errors, media
from vxdial.domain.clock import ScaledClock
from vxdial.store import CallToQueue, Store
from vxdial.telephony import DialRequest, DialResult, SimDriver
from vxdial.telephony.sim import WE_HUNG_UP, SimLeg
from vxdial.voicexml.testing import MemoryFetcher

START = "http://app.example/start.vxml"
RESULT = "http://app.example/result"
HELLO = """<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><block><prompt>Hello.</prompt><prompt>Goodbye.</prompt></block></form>
</vxml>"""
SPEED = 1000.0  # a ring of a simulated second takes a millisecond


class BrokenLeg:
    """A sim leg whose ``play`` raises an error nobody expects (a bug anywhere below
    the interpreter), after ``plays`` prompts."""

    def __init__(self, leg: SimLeg, plays: int = 0) -> None:
        self.leg = leg
        self.callee_type = leg.callee_type
        self.heard = leg.heard
        self.plays = plays

    async def play(self, prompt: media.Prompt) -> str:
        if self.plays <= 0:
            raise RuntimeError("the leg broke")
        self.plays -= 1
        return await self.leg.play(prompt)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.leg, name)


class BrokenLegDriver(SimDriver):
    """The sim carrier, its answered calls' legs broken."""

    def __init__(self, clock: ScaledClock, plays: int = 0) -> None:
        super().__init__([SimRule(match="*", ring_seconds=1)], clock)
        self.legs: list[SimLeg] = []
        self.plays = plays

    async def dial(
        self, request: DialRequest, *, on_ringing: Callable[[], None] | None = None
    ) -> DialResult:
        result = await super().dial(request, on_ringing=on_ringing)
        assert isinstance(result.leg, SimLeg)
        self.legs.append(result.leg)
        leg = BrokenLeg(result.leg, self.plays)
        return DialResult(result.outcome, result.cause, result.callee_type, leg)


class FailingDialDriver(SimDriver):
    """The sim carrier failing before anything is dialed."""

    async def dial(
        self, request: DialRequest, *, on_ringing: Callable[[], None] | None = None
    ) -> DialResult:
        raise RuntimeError("no route")


def queue_one(store: Store, *, max_retries: int = 2) -> tuple[int, int]:
    """Queue one call due now; (sender id, call id)."""
    sender = store.add_sender(
        login="alice",
        role=campaigns.Role.SENDER,
        pin_hash="h",
        lines=None,
        result_secret="s",
        now=T0,
    )
    default = store.default_campaign(sender.id, T0)
    settings = calls.CallSettings(START, RESULT, max_retries, 86400, T0, None)  # no retry here
    [call_id] = store.queue_calls(
        [CallToQueue(sender.id, default.id, calls.NewCall("15551230000"), settings, T0)]
    )
    return sender.id, call_id


def dialer_for(store: Store, driver: SimDriver, clock: ScaledClock) -> Dialer:
    return Dialer(
        store=store,
        driver=driver,
        clock=clock,
        settings=DialerSettings(cps=1000, lease_s=60),
        fetcher=MemoryFetcher({START: HELLO}),
        worker="w1",
    )


async def test_an_error_after_the_answer_completes_the_call_after_one_attempt(
    store: Store,
) -> None:
    clock = ScaledClock(SPEED)
    sender_id, call_id = queue_one(store)
    driver = BrokenLegDriver(clock)
    dialer = dialer_for(store, driver, clock)
    await dialer.run_until_idle()
    call = store.call(sender_id, call_id)
    assert (call.state, call.attempts, call.callee_type) == (
        calls.CallState.COMPLETED,
        1,
        "voice",
    )
    [attempt] = store.call_attempts(sender_id, call_id)
    assert attempt.outcome == "answer"
    assert attempt.cause == "internal error (RuntimeError); hung up"
    events = [e for _, e in store.call_events(sender_id, call_id)]
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["dialing", "ringing", "connected"]
    assert kinds[-3:] == ["internal_error", "disconnected", "completed"]
    assert events[-3].detail == "RuntimeError: the leg broke"
    # One result, completed; the callee was hung up on.
    [delivery] = store.call_deliveries(sender_id, call_id)
    assert "result=completed" in delivery.body and "attempts=1" in delivery.body
    [leg] = driver.legs
    assert leg.end_cause == WE_HUNG_UP
    assert dialer.attempts_started == 1


async def test_the_error_is_in_the_history_past_the_transcripts_cap(store: Store) -> None:
    clock = ScaledClock(SPEED)
    sender_id, call_id = queue_one(store)
    driver = BrokenLegDriver(clock, plays=MAX_TRANSCRIPT_EVENTS + 50)
    dialer = dialer_for(store, driver, clock)
    prompts = "".join(f"<block><prompt>{i}.</prompt></block>" for i in range(600))
    dialer.fetcher = MemoryFetcher({START: HELLO.replace("<block>", prompts + "<block>", 1)})
    await dialer.run_until_idle()
    events = [e for _, e in store.call_events(sender_id, call_id, limit=5000)]
    assert [e.kind for e in events if e.kind == "prompt"] == ["prompt"] * MAX_TRANSCRIPT_EVENTS
    assert [e.kind for e in events][-2:] == ["internal_error", "completed"]
    assert store.call(sender_id, call_id).state is calls.CallState.COMPLETED


async def test_a_failed_write_of_the_answer_still_completes_the_call(store: Store) -> None:
    clock = ScaledClock(SPEED)
    sender_id, call_id = queue_one(store)

    def unavailable(items: object) -> list[None]:
        raise errors.Unavailable("the database is unavailable; try again")

    store.mark_connected = unavailable  # type: ignore[method-assign]
    driver = SimDriver([SimRule(match="*", ring_seconds=1)], clock)
    await dialer_for(store, driver, clock).run_until_idle()
    call = store.call(sender_id, call_id)
    assert (call.state, call.attempts) == (calls.CallState.COMPLETED, 1)
    events = [e for _, e in store.call_events(sender_id, call_id)]
    [internal] = [e for e in events if e.kind == "internal_error"]
    assert internal.detail == "Unavailable: the database is unavailable; try again"
    assert driver.calls_up == 0  # hung up


@pytest.mark.parametrize("max_retries", [0, 2])
async def test_an_error_before_the_answer_is_an_unreachable_attempt(
    store: Store, max_retries: int
) -> None:
    clock = ScaledClock(SPEED)
    sender_id, call_id = queue_one(store, max_retries=max_retries)
    await dialer_for(store, FailingDialDriver([], clock), clock).run_until_idle()
    call = store.call(sender_id, call_id)
    expected = calls.CallState.FAILED if max_retries == 0 else calls.CallState.QUEUED
    assert (call.state, call.attempts, call.callee_type) == (expected, 1, "unreachable")
    [attempt] = store.call_attempts(sender_id, call_id)
    assert (attempt.outcome, attempt.cause) == ("unreachable", "internal error: RuntimeError")
