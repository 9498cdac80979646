"""An idle dialer and result deliverer cost nothing (issue 12, item 17): they make no
query while nothing is due, wake when work is announced (in this process, or from
another one over PostgreSQL LISTEN/NOTIFY) and sleep until the earliest due time.

The loops run for real on the event loop, on a FakeClock; their safety poll (real
seconds) is an hour, so whatever they do here they did because they were woken or a due
time came. Waits for them to act are bounded by ``hang_guard`` (a hang, not a speed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from tests.conftest import T0
from tests.support.webapp import WebApp
from vxdial.config import DeliverySettings, DialerSettings, SimRule
from vxdial.delivery import Deliverer
from vxdial.dialer import Dialer
from vxdial.domain import calls, campaigns
from vxdial.domain.clock import FakeClock
from vxdial.egress import EgressPolicy
from vxdial.store import CallToQueue, Store
from vxdial.telephony import SimDriver
from vxdial.voicexml.testing import MemoryFetcher

HOUR_S = 3600.0  # the safety poll: never, within a test
HANG_GUARD_S = 30.0
START = "http://app.example/start.vxml"


async def hang_guard(condition: Callable[[], bool]) -> None:
    """Yield to the loops until ``condition`` holds (a hang fails the test)."""

    async def until() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(until(), HANG_GUARD_S)


def count_queries(store: Store) -> Counter[str]:
    """Count every store operation the loops run (they all go through ``Store.run``)."""
    counts: Counter[str] = Counter()
    run = store.run

    async def counted(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        counts[fn.__name__] += 1
        return await run(fn, *args, **kwargs)

    store.run = counted  # type: ignore[method-assign]
    return counts


def add_alice(store: Store) -> tuple[int, int]:
    """(sender id, default campaign id)."""
    sender = store.add_sender(
        login="alice",
        role=campaigns.Role.SENDER,
        pin_hash="h",
        lines=None,
        result_secret="s",
        now=T0,
    )
    return sender.id, store.default_campaign(sender.id, T0).id


def queue(store: Store, sender_id: int, campaign_id: int, *, at_s: float = 0) -> int:
    """One call, due ``at_s`` after T0, that the sim carrier rejects at once (no clock
    sleeps: the attempt ends without the FakeClock moving)."""
    settings = calls.CallSettings(START, None, 0, 60, T0 + timedelta(seconds=at_s), None)
    [call_id] = store.queue_calls(
        [CallToQueue(sender_id, campaign_id, calls.NewCall("15551230000"), settings, T0)]
    )
    return call_id


def dialer_for(store: Store, clock: FakeClock) -> Dialer:
    return Dialer(
        store=store,
        driver=SimDriver([SimRule(match="*", outcome="rejected", ring_seconds=0)], clock),
        clock=clock,
        settings=DialerSettings(cps=1000, lease_s=60, poll_s=HOUR_S),
        fetcher=MemoryFetcher(),
        worker="w1",
    )


@contextlib.asynccontextmanager
async def running(dialer: Dialer) -> AsyncIterator[Dialer]:
    task = asyncio.create_task(dialer.run())
    try:
        yield dialer
    finally:
        dialer.stop()
        await asyncio.wait_for(task, HANG_GUARD_S)


async def settle(waiter: Dialer | Deliverer) -> None:
    """Let a loop that was just started reach its sleep."""
    await hang_guard(lambda: waiter.waits >= 1)
    await asyncio.sleep(0.05)


async def test_an_idle_dialer_makes_no_query(store: Store) -> None:
    clock = FakeClock(T0)
    add_alice(store)
    counts = count_queries(store)
    dialer = dialer_for(store, clock)
    async with running(dialer):
        await hang_guard(lambda: dialer.waits >= 1)
        await asyncio.sleep(0.05)
        before = sum(counts.values())
        # Two hours of simulated time, a second at a time: past the safety poll's
        # period, which counts real seconds (the old loop's poll counted simulated ones,
        # and it swept and renewed its leases every simulated second).
        for _ in range(2 * int(HOUR_S)):
            clock.advance(1)
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert sum(counts.values()) == before, counts
        assert dialer.claim_cycles == 1


async def test_a_call_queued_in_this_process_wakes_the_dialer(store: Store) -> None:
    clock = FakeClock(T0)
    sender_id, campaign_id = add_alice(store)
    dialer = dialer_for(store, clock)
    async with running(dialer):
        await settle(dialer)
        call_id = queue(store, sender_id, campaign_id)
        await hang_guard(lambda: dialer.attempts_ended == 1)
    call = store.call(sender_id, call_id)
    assert (call.state, call.attempts) == (calls.CallState.FAILED, 1)


async def test_a_call_scheduled_for_later_is_dialed_when_due(store: Store) -> None:
    clock = FakeClock(T0)
    sender_id, campaign_id = add_alice(store)
    call_id = queue(store, sender_id, campaign_id, at_s=600)
    counts = count_queries(store)
    dialer = dialer_for(store, clock)
    async with running(dialer):
        await settle(dialer)
        looked = counts["next_work_at"]
        clock.advance(599)  # one second short
        await asyncio.sleep(0.05)
        assert dialer.attempts_started == 0
        assert counts["next_work_at"] == looked  # slept, did not poll
        clock.advance(1)
        await hang_guard(lambda: dialer.attempts_ended == 1)
    assert store.call(sender_id, call_id).attempts == 1


async def test_a_call_expires_when_due_without_polling(store: Store) -> None:
    clock = FakeClock(T0)
    sender_id, campaign_id = add_alice(store)
    store.steer_campaign(sender_id, campaign_id, "pause", T0)  # never dialed
    settings = calls.CallSettings(START, None, 0, 60, T0, T0 + timedelta(seconds=300))
    [call_id] = store.queue_calls(
        [CallToQueue(sender_id, campaign_id, calls.NewCall("15551230000"), settings, T0)]
    )
    dialer = dialer_for(store, clock)
    async with running(dialer):
        await settle(dialer)
        clock.advance(300)
        await hang_guard(lambda: store.call(sender_id, call_id).state is calls.CallState.EXPIRED)


@pytest.mark.parametrize("action", ["resume", "admin_resume"])
async def test_a_resume_wakes_the_dialer(store: Store, action: str) -> None:
    clock = FakeClock(T0)
    sender_id, campaign_id = add_alice(store)
    if action == "resume":
        store.steer_campaign(sender_id, campaign_id, "pause", T0)
    else:
        store.set_suspended(True, T0)
    queue(store, sender_id, campaign_id)
    dialer = dialer_for(store, clock)
    async with running(dialer):
        await settle(dialer)
        assert dialer.attempts_started == 0
        if action == "resume":
            store.steer_campaign(sender_id, campaign_id, "resume", clock.now())
        else:
            store.set_suspended(False, clock.now())
        await hang_guard(lambda: dialer.attempts_ended == 1)


async def test_a_call_queued_by_another_process_wakes_the_dialer_over_postgresql(
    postgres_url: str,
) -> None:
    """Two stores on one PostgreSQL database stand for two processes: the dialer's
    store hears the other's NOTIFY through its LISTEN relay."""
    worker_store, api_store = Store.open(postgres_url), Store.open(postgres_url)
    relay = asyncio.create_task(worker_store.relay_work())
    try:
        heard: list[str] = []
        worker_store.on_work(heard.append)
        await hang_guard(lambda: "calls" in heard)  # listening: told once on connecting
        clock = FakeClock(T0)
        sender_id, campaign_id = add_alice(api_store)
        dialer = dialer_for(worker_store, clock)
        async with running(dialer):
            await settle(dialer)
            call_id = queue(api_store, sender_id, campaign_id)
            await hang_guard(lambda: dialer.attempts_ended == 1)
        assert api_store.call(sender_id, call_id).attempts == 1
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        worker_store.close()
        api_store.close()


# -- the result deliverer ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_deliverer(store: Store, clock: FakeClock) -> AsyncIterator[Deliverer]:
    async with aiohttp.ClientSession() as http:
        deliverer = Deliverer(
            store=store,
            http=http,
            clock=clock,
            settings=DeliverySettings(timeout_s=2),
            worker="w1",
            policy=EgressPolicy(()),
            poll_s=HOUR_S,
        )
        task = asyncio.create_task(deliverer.run())
        try:
            yield deliverer
        finally:
            deliverer.stop()
            await asyncio.wait_for(task, HANG_GUARD_S)


async def test_an_idle_deliverer_makes_no_query_and_wakes_for_a_result(
    store: Store, webapp: WebApp
) -> None:
    clock = FakeClock(T0)
    sender_id, campaign_id = add_alice(store)
    counts = count_queries(store)
    async with running_deliverer(store, clock) as deliverer:
        await settle(deliverer)
        before = sum(counts.values())
        for _ in range(2 * int(HOUR_S)):
            clock.advance(1)
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert sum(counts.values()) == before, counts
        # A result in the outbox (a queued call canceled): announced, so posted.
        settings = calls.CallSettings(START, webapp.url("/result"), 0, 60, T0, None)
        [call_id] = store.queue_calls(
            [CallToQueue(sender_id, campaign_id, calls.NewCall("15551230000"), settings, T0)]
        )
        store.cancel_call(sender_id, call_id, clock.now())
        await hang_guard(lambda: deliverer.delivered == 1)
    [post] = webapp.seen("/result", "POST")
    assert b"result=canceled" in post.body
