"""The store's dialing operations on both engines, many items at once (executemany
paths), with the guard against a worker whose lease was taken over."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import T0
from vxdial.domain import calls, campaigns
from vxdial.store import CallToQueue, Store
from vxdial.store.leases import DialLimits
from vxdial.store.queries.attempts import AttemptEnd, Event

SETTINGS = calls.CallSettings("http://a.example/s", "http://a.example/r", 1, 60, T0, None)
LIMITS = DialLimits(lines=100, cps=1000, horizon_s=1.0)


def setup(store: Store, count: int) -> campaigns.Sender:
    sender = store.add_sender(
        login="alice",
        role=campaigns.Role.SENDER,
        pin_hash="h",
        lines=None,
        result_secret="s",
        now=T0,
    )
    default = store.default_campaign(sender.id, T0)
    store.queue_calls(
        [
            CallToQueue(sender.id, default.id, calls.NewCall(f"1555123{i:04d}"), SETTINGS, T0)
            for i in range(count)
        ]
    )
    return sender


def claim(store: Store, worker: str, now=T0, max_claims: int = 50):  # type: ignore[no-untyped-def]
    return store.claim_calls(
        worker=worker,
        now=now,
        lease_until=now + timedelta(seconds=60),
        limits=LIMITS,
        max_claims=max_claims,
        rotation=0,
    )


def test_a_batch_goes_through_ringing_connected_and_completed(store: Store) -> None:
    sender = setup(store, 20)
    claims = claim(store, "w1")
    assert len(claims) == 20
    assert claim(store, "w2") == []  # nothing left for another worker
    store.mark_ringing([(c.call.id, c.attempt, "w1", T0) for c in claims])
    store.mark_connected([(c.call.id, c.attempt, "w1", T0, "voice") for c in claims])
    assert {c.state for c in store.calls(sender.id)} == {calls.CallState.CONNECTED}
    ends = [
        AttemptEnd(
            c.call,
            c.attempt,
            "w1",
            calls.Outcome.ANSWER,
            "sim: answer",
            "voice",
            T0 + timedelta(seconds=30),
            calls.CallState.COMPLETED,
            None,
            30,
        )
        for c in claims
    ]
    assert store.finish_attempts(ends) == [True] * 20
    done = store.calls(sender.id)
    assert {(c.state, c.callee_type, c.duration_s) for c in done} == {
        (calls.CallState.COMPLETED, "voice", 30)
    }
    [attempt] = store.call_attempts(sender.id, done[0].id)
    assert (attempt.outcome, attempt.callee_type) == ("answer", "voice")
    [delivery] = store.call_deliveries(sender.id, done[0].id)
    assert "result=completed" in delivery.body and "duration=30" in delivery.body
    kinds = [e.kind for _, e in store.call_events(sender.id, done[0].id)]
    assert kinds == ["dialing", "ringing", "connected", "completed"]


def test_a_taken_over_call_ignores_its_old_worker(store: Store) -> None:
    sender = setup(store, 3)
    claims = claim(store, "dead")
    later = T0 + timedelta(minutes=5)
    swept = store.sweep(now=later, lease_s=60)
    assert swept["reclaimed"] == 3
    assert {c.state for c in store.calls(sender.id)} == {calls.CallState.QUEUED}
    assert {c.attempts for c in store.calls(sender.id)} == {0}  # given back, not counted
    again = claim(store, "alive", now=later)
    assert [c.attempt for c in again] == [1, 1, 1]
    stale = [
        AttemptEnd(
            c.call,
            c.attempt,
            "dead",
            calls.Outcome.BUSY,
            "late",
            "busy",
            later,
            calls.CallState.FAILED,
            None,
            0,
        )
        for c in claims
    ]
    assert store.finish_attempts(stale) == [False] * 3
    store.mark_connected([(c.call.id, c.attempt, "alive", later, "voice") for c in again])
    attempts = store.call_attempts(sender.id, again[0].call.id)
    assert [(a.outcome, a.answered_at is not None) for a in attempts] == [
        ("lost", False),
        (None, True),
    ]


def test_odd_characters_in_a_calls_history_are_stored_escaped(store: Store) -> None:
    """A NUL (PostgreSQL text refuses it) or a lone surrogate (UTF-8 cannot encode it)
    from a call's application must not fail the write of the attempt's end."""
    sender = setup(store, 1)
    [c] = claim(store, "w1")
    odd = "A\x00B\ud800C"
    end = AttemptEnd(
        c.call,
        c.attempt,
        "w1",
        calls.Outcome.ANSWER,
        f"the application failed: {odd}",
        "voice",
        T0,
        calls.CallState.COMPLETED,
        None,
        0,
        events=[Event(c.call.id, T0, c.attempt, "prompt", odd)],
    )
    assert store.finish_attempts([end]) == [True]
    details = [e.detail for _, e in store.call_events(sender.id, c.call.id) if e.kind == "prompt"]
    assert details == ["A\\x00B\\ud800C"]
    [attempt] = store.call_attempts(sender.id, c.call.id)
    assert attempt.cause == "the application failed: A\\x00B\\ud800C"
