"""What the store tells idle loops (issue 12, item 17), on both engines: when work is
next due (``next_work_at``, ``next_delivery_at``), which writes announce work to this
process's listeners, and on PostgreSQL to other processes' (``relay_work``)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from tests.conftest import T0
from vxdial.domain import calls, campaigns
from vxdial.store import CallToQueue, Store
from vxdial.store.leases import DialLimits
from vxdial.store.queries.attempts import AttemptEnd

START = "http://a.example/s"
LIMITS = DialLimits(lines=100, cps=1000, horizon_s=1.0)


def alice(store: Store) -> tuple[int, int]:
    sender = store.add_sender(
        login="alice",
        role=campaigns.Role.SENDER,
        pin_hash="h",
        lines=None,
        result_secret="s",
        now=T0,
    )
    return sender.id, store.default_campaign(sender.id, T0).id


def queue(
    store: Store,
    sender_id: int,
    campaign_id: int,
    *,
    at_s: float = 0,
    expires_s: float | None = None,
    result_url: str | None = None,
) -> int:
    settings = calls.CallSettings(
        START,
        result_url,
        0,
        60,
        T0 + timedelta(seconds=at_s),
        None if expires_s is None else T0 + timedelta(seconds=expires_s),
    )
    [call_id] = store.queue_calls(
        [CallToQueue(sender_id, campaign_id, calls.NewCall("15551230000"), settings, T0)]
    )
    return call_id


def seconds(store: Store) -> float | None:
    due = store.next_work_at(T0)
    return None if due is None else (due - T0).total_seconds()


def test_next_work_at_is_the_earliest_dialable_call(store: Store) -> None:
    assert store.next_work_at(T0) is None  # an empty system: nothing, ever
    sender_id, campaign_id = alice(store)
    assert store.next_work_at(T0) is None
    queue(store, sender_id, campaign_id, at_s=900)
    queue(store, sender_id, campaign_id, at_s=600)
    assert seconds(store) == 600
    # A paused campaign, a suspended system, a disabled sender: not dialable, not due.
    store.steer_campaign(sender_id, campaign_id, "pause", T0)
    assert store.next_work_at(T0) is None
    store.steer_campaign(sender_id, campaign_id, "resume", T0)
    store.set_suspended(True, T0)
    assert store.next_work_at(T0) is None
    store.set_suspended(False, T0)
    store.update_sender("alice", enabled=False, now=T0)
    assert store.next_work_at(T0) is None
    store.update_sender("alice", enabled=True, now=T0)
    assert seconds(store) == 600


def test_next_work_at_counts_expirations_leases_and_canceled_campaigns(store: Store) -> None:
    sender_id, campaign_id = alice(store)
    store.steer_campaign(sender_id, campaign_id, "pause", T0)
    queue(store, sender_id, campaign_id, expires_s=300)  # paused, but it will expire
    assert seconds(store) == 300
    store.steer_campaign(sender_id, campaign_id, "resume", T0)
    [claim] = store.claim_calls(
        worker="w1",
        now=T0,
        lease_until=T0 + timedelta(seconds=60),
        limits=LIMITS,
        max_claims=10,
        rotation=0,
    )
    # The call is up: its lease's end (a dead worker's calls are taken over then).
    assert seconds(store) == 60.001
    assert claim.call.id
    # A canceled campaign's queued calls are for the sweep to cancel: due now.
    other = store.start_campaign_upload(
        sender_id=sender_id,
        name="list",
        settings=calls.CallSettings(START, None, 0, 60, T0 + timedelta(days=1), None),
        now=T0,
    )
    store.add_campaign_batch(
        sender_id=sender_id,
        campaign=other,
        # More than the cancel's own first batch (5,000): the rest is the sweep's.
        new_calls=[calls.NewCall(f"1555124{i:04d}") for i in range(5001)],
        rejections=[],
        now=T0,
    )
    store.finish_campaign_upload(other.id, T0)
    assert seconds(store) == 60.001
    store.steer_campaign(sender_id, other.id, "cancel", T0)
    assert seconds(store) == 0


def test_next_delivery_at(store: Store) -> None:
    sender_id, campaign_id = alice(store)
    assert store.next_delivery_at(T0) is None
    call_id = queue(store, sender_id, campaign_id, result_url="http://a.example/r")
    store.cancel_call(sender_id, call_id, T0)  # its result is due at once
    assert store.next_delivery_at(T0) == T0
    [job] = store.claim_deliveries(
        worker="w1", now=T0, lease_until=T0 + timedelta(seconds=120), limit=10
    )
    assert store.next_delivery_at(T0) == T0 + timedelta(seconds=120)  # in flight
    assert job.call_id == call_id


def test_writes_that_make_work_announce_it(store: Store) -> None:
    heard: list[str] = []
    unsubscribe = store.on_work(heard.append)
    sender_id, campaign_id = alice(store)
    assert heard == []  # a new sender has nothing to dial
    call_id = queue(store, sender_id, campaign_id, result_url="http://a.example/r")
    assert heard == ["calls"]
    store.steer_campaign(sender_id, campaign_id, "pause", T0)
    store.set_suspended(True, T0)
    assert heard == ["calls"]  # pausing makes no work
    store.steer_campaign(sender_id, campaign_id, "resume", T0)
    store.set_suspended(False, T0)
    store.update_sender("alice", enabled=True, now=T0)
    assert heard == ["calls"] * 4
    heard.clear()
    store.cancel_call(sender_id, call_id, T0)
    assert heard == ["results"]
    heard.clear()
    # An attempt's end announces a result only when the call is final.
    queue(store, sender_id, campaign_id)
    [claim] = store.claim_calls(
        worker="w1",
        now=T0,
        lease_until=T0 + timedelta(seconds=60),
        limits=LIMITS,
        max_claims=10,
        rotation=0,
    )
    heard.clear()
    end = AttemptEnd(
        claim.call,
        claim.attempt,
        "w1",
        calls.Outcome.BUSY,
        "busy",
        "busy",
        T0,
        calls.CallState.FAILED,
        None,
        0,
    )
    assert store.finish_attempts([end]) == [True]
    assert heard == ["results"]
    unsubscribe()
    queue(store, sender_id, campaign_id)
    assert heard == ["results"]  # unsubscribed: told nothing more


async def wait_for(condition: object) -> None:
    async def until() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(until(), 30)  # a hang guard


async def test_other_processes_hear_the_announcements_over_postgresql(postgres_url: str) -> None:
    here, there = Store.open(postgres_url), Store.open(postgres_url)
    relay = asyncio.create_task(here.relay_work())
    heard: list[str] = []
    here.on_work(heard.append)
    try:
        await wait_for(lambda: len(heard) == 3)  # on connecting: every kind, once
        assert sorted(heard) == ["calls", "results", "searches"]
        heard.clear()
        sender_id, campaign_id = alice(there)
        queue(there, sender_id, campaign_id)
        await wait_for(lambda: heard == ["calls"])
        # Its own announcements come back over LISTEN too, and are told once only.
        heard.clear()
        queue(here, sender_id, campaign_id)
        assert heard == ["calls"]
        queue(there, sender_id, campaign_id)  # a marker: once heard, the echo is past
        await wait_for(lambda: len(heard) == 2)
        assert heard == ["calls", "calls"]
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        here.close()
        there.close()
