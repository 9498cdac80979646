"""vxdial.domain.calls: a call's states and settings (PRODUCT.md section 3)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime

import pytest

from vxdial.domain import calls

State = calls.CallState

# PRODUCT.md section 3, written out independently of calls.TRANSITIONS: an attempt goes
# queued -> dialing -> ringing -> connected; an unanswered attempt goes back to queued
# or ends the call as failed; expiry and cancel stop a call that is not connected; an
# answered call can only end as completed; final states never change.
ALLOWED = {
    (State.QUEUED, State.DIALING),
    (State.QUEUED, State.FAILED),
    (State.QUEUED, State.EXPIRED),
    (State.QUEUED, State.CANCELED),
    (State.DIALING, State.RINGING),
    (State.DIALING, State.CONNECTED),  # answered without a ringing indication
    (State.DIALING, State.QUEUED),
    (State.DIALING, State.FAILED),
    (State.DIALING, State.EXPIRED),
    (State.DIALING, State.CANCELED),
    (State.RINGING, State.CONNECTED),
    (State.RINGING, State.QUEUED),
    (State.RINGING, State.FAILED),
    (State.RINGING, State.EXPIRED),
    (State.RINGING, State.CANCELED),
    (State.CONNECTED, State.COMPLETED),
}
FINAL = [State.COMPLETED, State.FAILED, State.EXPIRED, State.CANCELED]


def test_state_names_are_the_products_words() -> None:
    assert [state.value for state in State] == [
        "queued",
        "dialing",
        "ringing",
        "connected",
        "completed",
        "failed",
        "expired",
        "canceled",
    ]
    assert State("queued") is State.QUEUED
    assert str(State.CANCELED) == "canceled"


def test_every_state_has_a_row() -> None:
    assert set(calls.TRANSITIONS) == set(State)


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(State, State)), ids=lambda s: str(s)
)
def test_transition_table(current: State, target: State) -> None:
    assert calls.can_move(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize("state", FINAL)
def test_final_states_have_no_successors(state: State) -> None:
    assert state.is_final
    assert calls.TRANSITIONS[state] == frozenset()
    assert not any(calls.can_move(state, target) for target in State)


def test_final_states() -> None:
    assert frozenset(FINAL) == calls.FINAL_STATES
    assert [s for s in State if s.is_final] == FINAL


def test_queued_can_go_to_dialing() -> None:
    assert calls.can_move(State.QUEUED, State.DIALING)
    assert not calls.can_move(State.QUEUED, State.RINGING)
    assert not calls.can_move(State.QUEUED, State.CONNECTED)
    assert not calls.can_move(State.QUEUED, State.COMPLETED)


def test_connected_only_to_completed() -> None:
    assert calls.TRANSITIONS[State.CONNECTED] == frozenset({State.COMPLETED})


def test_no_state_moves_to_itself() -> None:
    assert not any(calls.can_move(state, state) for state in State)


def test_every_state_is_reachable_from_queued() -> None:
    reached = {State.QUEUED}
    frontier = [State.QUEUED]
    while frontier:
        for target in calls.TRANSITIONS[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


def test_limits_are_those_of_the_plum_text() -> None:
    assert (calls.MAX_RETRIES_RANGE.start, calls.MAX_RETRIES_RANGE.stop - 1) == (0, 10)
    assert (calls.RETRY_INTERVAL_RANGE_S.start, calls.RETRY_INTERVAL_RANGE_S.stop - 1) == (
        60,
        172800,
    )
    assert calls.DEFAULT_MAX_RETRIES == 0
    assert calls.DEFAULT_RETRY_INTERVAL_S == 600
    assert calls.DEFAULT_MAX_RETRIES in calls.MAX_RETRIES_RANGE
    assert calls.DEFAULT_RETRY_INTERVAL_S in calls.RETRY_INTERVAL_RANGE_S


def make_settings(max_retries: int) -> calls.CallSettings:
    return calls.CallSettings(
        start_url="http://app.example/start.vxml",
        result_url=None,
        max_retries=max_retries,
        retry_interval_s=600,
        scheduled_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        expires_at=None,
    )


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 2), (3, 4), (10, 11)])
def test_max_attempts_is_one_plus_max_retries(max_retries: int, attempts: int) -> None:
    assert make_settings(max_retries).max_attempts == attempts


def test_call_settings_are_frozen() -> None:
    settings = make_settings(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_retries = 3  # type: ignore[misc]


def test_new_call_defaults() -> None:
    call = calls.NewCall("15551234567")
    assert call == ("15551234567", None, None, None, None, None)
    assert calls.NewCall._fields == (
        "phone_number",
        "ani",
        "postd",
        "message_reference",
        "call_parameters",
        "line",
    )
