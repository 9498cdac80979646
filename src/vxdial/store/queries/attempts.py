"""Statements over a call's attempts and events, and the transitions of an attempt."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.domain import calls, results
from vxdial.store.queries.bulk import update_rows
from vxdial.store.tables import call_attempts, call_events, deliveries, to_millis
from vxdial.store.tables import calls as calls_table

_LIVE = ("dialing", "ringing", "connected")


@dataclass(frozen=True, slots=True)
class Event:
    call_id: int
    at: datetime
    attempt: int | None
    kind: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    worker: str
    started_at: datetime
    ringing_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    cause: str | None
    callee_type: str | None


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How an attempt ended, and where its call goes next (decided by the dialer)."""

    call: calls.Call  # as claimed
    attempt: int
    worker: str
    outcome: calls.Outcome | None  # None: it never reached an outcome (canceled first)
    cause: str
    callee_type: str | None  # the result's callee_type (see calls.FinalResult)
    ended_at: datetime
    state: calls.CallState  # queued (retry) or a final state
    next_attempt_at: datetime | None
    duration_s: int
    events: Sequence[Event] = field(default_factory=tuple)
    # Given back unfinished (its worker stopped): queued again, the attempt not counted.
    given_back: bool = False


def start_attempts(conn: Connection, started: Sequence[tuple[int, int, str, datetime]]) -> None:
    """Record (call_id, attempt, worker, started_at) attempts, each with a dialing event."""
    if not started:
        return
    conn.execute(
        sa.insert(call_attempts),
        [{"call_id": c, "attempt": a, "worker": w, "started_at": at} for c, a, w, at in started],
    )
    insert_events(conn, [Event(c, at, a, "dialing", f"worker {w}") for c, a, w, at in started])


def insert_events(conn: Connection, events: Sequence[Event]) -> None:
    """Append events to calls' histories."""
    if not events:
        return
    conn.execute(
        sa.insert(call_events),
        [
            {
                "call_id": e.call_id,
                "at": e.at,
                "attempt": e.attempt,
                "kind": e.kind,
                "detail": None if e.detail is None else _storable(e.detail[:1024]),
            }
            for e in events
        ],
    )


def _storable(text: str) -> str:
    """``text`` as both engines store it: a lone surrogate (which UTF-8 cannot encode)
    and NUL (which PostgreSQL text refuses) are written as escapes, so one odd
    character from a call's application cannot fail the write of its whole end."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# The open row of an attempt: a number given back (its worker stopped) is used again.
_OPEN = call_attempts.c.ended_at.is_(None)
# A call still leased to the row's worker (checked with the row's "worker" value).
_MATCH_CALL = ("id", "lease_owner")
_MATCH_ATTEMPT = ("call_id", "attempt")


def mark_ringing(conn: Connection, items: Sequence[tuple[int, int, str, datetime]]) -> None:
    """(call_id, attempt, worker, at): the far end alerts."""
    if not items:
        return
    update_rows(
        conn,
        calls_table,
        [{"id": c, "lease_owner": w, "updated_at": at} for c, _, w, at in items],
        match=_MATCH_CALL,
        assign={"state": sa.literal("ringing"), "updated_at": "updated_at"},
        where=[calls_table.c.state == "dialing"],
    )
    update_rows(
        conn,
        call_attempts,
        [{"call_id": c, "attempt": a, "ringing_at": at} for c, a, _, at in items],
        match=_MATCH_ATTEMPT,
        assign={"ringing_at": "ringing_at"},
        where=[_OPEN],
    )
    insert_events(conn, [Event(c, at, a, "ringing") for c, a, _, at in items])


def mark_connected(conn: Connection, items: Sequence[tuple[int, int, str, datetime, str]]) -> None:
    """(call_id, attempt, worker, at, callee_type): answered; from now on never redialed."""
    if not items:
        return
    update_rows(
        conn,
        calls_table,
        [{"id": c, "lease_owner": w, "updated_at": at} for c, _, w, at, _ in items],
        match=_MATCH_CALL,
        assign={"state": sa.literal("connected"), "updated_at": "updated_at"},
        where=[sa.or_(calls_table.c.state == "dialing", calls_table.c.state == "ringing")],
    )
    update_rows(
        conn,
        call_attempts,
        [
            {"call_id": c, "attempt": a, "answered_at": at, "callee_type": ct}
            for c, a, _, at, ct in items
        ],
        match=_MATCH_ATTEMPT,
        assign={"answered_at": "answered_at", "callee_type": "callee_type"},
        where=[_OPEN],
    )
    insert_events(conn, [Event(c, at, a, "connected", ct) for c, a, _, at, ct in items])


def answered_at(
    conn: Connection, keys: Sequence[tuple[int, int]]
) -> dict[int, tuple[datetime | None, str | None]]:
    """call_id -> (answered_at, callee_type) of the given (call_id, attempt) attempts."""
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(
            call_attempts.c.call_id, call_attempts.c.answered_at, call_attempts.c.callee_type
        ).where(
            sa.tuple_(call_attempts.c.call_id, call_attempts.c.attempt).in_(keys),
            call_attempts.c.ended_at.is_(None),  # the open attempt
        )
    )
    return {call_id: (at, callee) for call_id, at, callee in rows}


def finish_attempts(
    conn: Connection, ends: Sequence[AttemptEnd], *, guard_owner: bool = True
) -> list[int]:
    """Apply the ends of attempts; returns the call ids applied.

    With ``guard_owner``, an end whose call is no longer leased to its worker (another
    worker took it over after the lease ran out) is dropped: the call has already
    been given its fate there. A final state writes the result to the outbox in this
    same transaction.
    """
    if not ends:
        return []
    if guard_owner:
        owners = dict(
            conn.execute(
                sa.select(calls_table.c.id, calls_table.c.lease_owner).where(
                    calls_table.c.id.in_([e.call.id for e in ends]),
                    calls_table.c.state.in_(_LIVE),
                )
            ).all()
        )
        ends = [e for e in ends if owners.get(e.call.id) == e.worker]
        if not ends:
            return []
    update_rows(
        conn,
        calls_table,
        [
            {
                "id": e.call.id,
                "state": e.state.value,
                "next_attempt_at": e.next_attempt_at,
                "callee_type": e.callee_type,
                "ended_at": None if e.state is calls.CallState.QUEUED else e.ended_at,
                "duration_s": e.duration_s if e.state.is_final else None,
                "updated_at": e.ended_at,
            }
            for e in ends
        ],
        match=("id",),
        assign={
            "state": "state",
            "next_attempt_at": "next_attempt_at",
            "callee_type": "callee_type",
            "ended_at": "ended_at",
            "duration_s": "duration_s",
            "updated_at": "updated_at",
            "lease_owner": None,
            "lease_expires_at": None,
            "cancel_requested": None,
        },
    )
    update_rows(
        conn,
        call_attempts,
        [
            {
                "call_id": e.call.id,
                "attempt": e.attempt,
                "ended_at": e.ended_at,
                "outcome": "lost"
                if e.given_back
                else (None if e.outcome is None else e.outcome.value),
                "cause": _storable(e.cause[:255]),
            }
            for e in ends
        ],
        match=_MATCH_ATTEMPT,
        assign={"ended_at": "ended_at", "outcome": "outcome", "cause": "cause"},
        where=[_OPEN],
    )
    given_back = [e for e in ends if e.given_back]
    if given_back:
        conn.execute(
            sa.update(calls_table)
            .where(calls_table.c.id.in_([e.call.id for e in given_back]))
            .values(attempts=calls_table.c.attempts - 1)
        )
    events: list[Event] = []
    for e in ends:
        events.extend(e.events)
        if e.state is calls.CallState.QUEUED:
            detail = f"{e.cause}; next attempt at {e.next_attempt_at:%Y-%m-%d %H:%M:%S}Z"
            events.append(Event(e.call.id, e.ended_at, e.attempt, "retry", detail))
        else:
            events.append(Event(e.call.id, e.ended_at, e.attempt, e.state.value, e.cause))
    insert_events(conn, events)
    finals = [e for e in ends if e.state.is_final]
    insert_results(
        conn,
        [
            (
                e.call,
                calls.FinalResult(e.state.value),
                e.callee_type,
                e.attempt,
                e.ended_at,
                e.duration_s,
            )
            for e in finals
        ],
        now=max((e.ended_at for e in finals), default=None),
    )
    return [e.call.id for e in ends]


def finish_unattempted(
    conn: Connection, queued: Sequence[calls.Call], *, state: calls.CallState, now: datetime
) -> list[int]:
    """End queued calls without an attempt (expired, canceled); returns the ids applied."""
    if not queued:
        return []
    applied = set(
        conn.execute(
            sa.select(calls_table.c.id).where(
                calls_table.c.id.in_([c.id for c in queued]),
                calls_table.c.state == calls.CallState.QUEUED.value,
            )
        ).scalars()
    )
    queued = [c for c in queued if c.id in applied]
    if not queued:
        return []
    conn.execute(
        sa.update(calls_table)
        .where(calls_table.c.id.in_([c.id for c in queued]))
        .values(
            state=state.value,
            next_attempt_at=None,
            ended_at=now,
            duration_s=0,
            updated_at=now,
        )
    )
    insert_events(conn, [Event(c.id, now, None, state.value) for c in queued])
    insert_results(
        conn,
        [(c, calls.FinalResult(state.value), c.callee_type, c.attempts, now, 0) for c in queued],
        now=now,
    )
    return [c.id for c in queued]


def insert_results(
    conn: Connection,
    finals: Sequence[tuple[calls.Call, calls.FinalResult, str | None, int, datetime, int]],
    *,
    now: datetime | None,
) -> None:
    """Put the results of calls that just became final in the outbox (calls with a
    result_url): (call, result, callee_type, attempts, ended_at, duration_s)."""
    rows = []
    for call, result, callee_type, attempts, ended_at, duration_s in finals:
        url = call.settings.result_url
        if not url:
            continue
        body = results.result_body(
            call,
            result=result,
            callee_type=callee_type,
            attempts=attempts,
            first_attempt_at=call.first_attempt_at,
            last_attempt_at=call.last_attempt_at,
            ended_at=ended_at,
            duration_s=duration_s,
        )
        rows.append(
            {
                "call_id": call.id,
                "sender_id": call.sender_id,
                "delivery_key": str(uuid.uuid4()),
                "url": url,
                "body": body,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": to_millis(ended_at),
                "created_at": to_millis(ended_at),
            }
        )
    if rows:
        conn.execute(sa.insert(deliveries), rows)


def attempts_of(conn: Connection, call_id: int) -> list[Attempt]:
    """A call's attempts, first first."""
    rows = conn.execute(
        sa.select(call_attempts)
        .where(call_attempts.c.call_id == call_id)
        .order_by(call_attempts.c.attempt, call_attempts.c.id)
    ).mappings()
    return [
        Attempt(
            attempt=r["attempt"],
            worker=r["worker"],
            started_at=r["started_at"],
            ringing_at=r["ringing_at"],
            answered_at=r["answered_at"],
            ended_at=r["ended_at"],
            outcome=r["outcome"],
            cause=r["cause"],
            callee_type=r["callee_type"],
        )
        for r in rows
    ]


def events_of(
    conn: Connection, call_id: int, *, after_id: int, limit: int
) -> list[tuple[int, Event]]:
    """(event id, event) of a call's history after ``after_id``, oldest first."""
    rows = conn.execute(
        sa.select(call_events)
        .where(call_events.c.call_id == call_id, call_events.c.id > after_id)
        .order_by(call_events.c.id)
        .limit(limit)
    ).mappings()
    return [
        (r["id"], Event(r["call_id"], r["at"], r["attempt"], r["kind"], r["detail"])) for r in rows
    ]
