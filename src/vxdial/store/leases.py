"""Claims on work: which worker dials which call, and delivers which result.

A claim is a lease in the database: ``lease_owner`` (the worker) and
``lease_expires_at``. A live worker renews its leases (its heartbeat); when a worker
dies, its leases run out and any worker takes the calls over (``reclaim_calls``).

Claims are serialized: on PostgreSQL by a transaction-level advisory lock (and the
candidate rows are taken ``FOR UPDATE SKIP LOCKED``), on SQLite by the write lock of
``BEGIN IMMEDIATE``. Serializing them is what makes the global limits exact across
any number of workers: total lines, each sender's lines, and the calls-per-second
pacing, whose next free slot is kept in ``system_flags``. The dialect branches of
claims live here, and only here.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.domain import calls
from vxdial.store.queries import attempts as attempt_queries
from vxdial.store.queries import system as system_queries
from vxdial.store.queries.calls import call_of, select_calls
from vxdial.store.tables import calls as calls_table
from vxdial.store.tables import campaigns as campaigns_table
from vxdial.store.tables import from_millis, senders, to_millis

LIVE_STATES = (
    calls.CallState.DIALING.value,
    calls.CallState.RINGING.value,
    calls.CallState.CONNECTED.value,
)
_CLAIM_LOCK = 0x7678_6463  # names the PostgreSQL advisory lock of claims


@dataclass(frozen=True, slots=True)
class Claim:
    """A call this worker now dials: its attempt number and the moment it may start
    (its calls-per-second slot)."""

    call: calls.Call
    attempt: int
    dial_at: datetime


@dataclass(frozen=True, slots=True)
class DialLimits:
    lines: int  # calls up at once, all workers together
    cps: float  # new calls per second, all workers together
    horizon_s: float  # how far ahead pacing slots may be handed out


def serialize_claims(conn: Connection) -> None:
    """Make this transaction the only one claiming until it ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})


def live_calls_by_sender(conn: Connection) -> dict[int, int]:
    """Calls dialing, ringing or connected, per sender."""
    rows = conn.execute(
        sa.select(calls_table.c.sender_id, sa.func.count())
        .where(calls_table.c.state.in_(LIVE_STATES))
        .group_by(calls_table.c.sender_id)
    )
    return {sender_id: count for sender_id, count in rows}


def claim_calls(
    conn: Connection,
    *,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limits: DialLimits,
    max_claims: int,
    rotation: int,
) -> list[Claim]:
    """Claim due calls, fairly across campaigns, within every limit; marks them dialing.

    Round-robin: each active campaign with due calls gives one call in turn (starting
    with the campaign at ``rotation``), so a campaign of a million calls never holds
    back a single queuecall for longer than a claim cycle.
    """
    serialize_claims(conn)
    if system_queries.get_flag(conn, system_queries.SUSPENDED) == "true":
        return []
    by_sender = live_calls_by_sender(conn)
    free = limits.lines - sum(by_sender.values())
    slot_value = system_queries.get_flag(conn, system_queries.DIAL_SLOT_AT)
    first_slot = now if slot_value is None else max(now, from_millis(int(slot_value)))
    window_s = (now - first_slot).total_seconds() + limits.horizon_s
    budget = min(free, max_claims, math.floor(window_s * limits.cps + 1e-9))
    if budget <= 0:
        return []

    campaign_rows = conn.execute(
        sa.select(campaigns_table.c.id, campaigns_table.c.sender_id, senders.c.lines)
        .select_from(campaigns_table.join(senders, senders.c.id == campaigns_table.c.sender_id))
        .where(
            campaigns_table.c.state == "active",
            senders.c.enabled.is_(True),
        )
        .order_by(campaigns_table.c.id)
    ).all()
    if not campaign_rows:
        return []
    start = rotation % len(campaign_rows)
    ordered = [*campaign_rows[start:], *campaign_rows[:start]]
    sender_free = {
        sender_id: (math.inf if lines is None else lines - by_sender.get(sender_id, 0))
        for _, sender_id, lines in ordered
    }
    due_before = now + timedelta(seconds=limits.horizon_s)
    candidates: list[tuple[int, list[int]]] = []
    for campaign_id, sender_id, _ in ordered:
        if sender_free[sender_id] <= 0:
            continue
        query = (
            sa.select(calls_table.c.id)
            .where(
                calls_table.c.campaign_id == campaign_id,
                calls_table.c.state == calls.CallState.QUEUED.value,
                calls_table.c.next_attempt_at <= now,
                # No attempt starts after the expiration (a pacing slot may be up to
                # the horizon away).
                sa.or_(calls_table.c.expires_at.is_(None), calls_table.c.expires_at > due_before),
            )
            .order_by(calls_table.c.next_attempt_at, calls_table.c.id)
            .limit(budget)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        found = list(conn.execute(query).scalars())
        if found:
            candidates.append((sender_id, found))

    picked: list[int] = []
    while len(picked) < budget and candidates:
        still: list[tuple[int, list[int]]] = []
        for sender_id, ids in candidates:
            if len(picked) >= budget:
                break
            if sender_free[sender_id] <= 0:
                continue
            picked.append(ids.pop(0))
            sender_free[sender_id] -= 1
            if ids:
                still.append((sender_id, ids))
        candidates = still
    if not picked:
        return []

    conn.execute(
        sa.update(calls_table)
        .where(calls_table.c.id.in_(picked), calls_table.c.state == calls.CallState.QUEUED.value)
        .values(
            state=calls.CallState.DIALING.value,
            attempts=calls_table.c.attempts + 1,
            lease_owner=worker,
            lease_expires_at=lease_until,
            last_attempt_at=now,
            first_attempt_at=sa.func.coalesce(calls_table.c.first_attempt_at, to_millis(now)),
            cancel_requested=None,
            updated_at=now,
        )
    )
    rows = conn.execute(
        select_calls().where(calls_table.c.id.in_(picked)).order_by(calls_table.c.id)
    ).mappings()
    by_id = {row["id"]: call_of(row) for row in rows}
    claims: list[Claim] = []
    step = timedelta(seconds=1 / limits.cps)
    for i, call_id in enumerate(picked):
        call = by_id[call_id]
        claims.append(Claim(call, call.attempts, first_slot + step * i))
    attempt_queries.start_attempts(
        conn, [(c.call.id, c.attempt, worker, c.dial_at) for c in claims]
    )
    system_queries.set_flag(
        conn, system_queries.DIAL_SLOT_AT, str(to_millis(first_slot + step * len(claims))), now
    )
    return claims


def next_work_at(conn: Connection, now: datetime) -> datetime | None:
    """When a dialer next has something to do that nobody will announce: the earliest
    due time of a queued call it may dial (an active campaign of an enabled sender,
    dialing not suspended), of a queued call's expiration, of a live call's lease (its
    worker may be dead); ``now`` if a canceled campaign still has queued calls to sweep.
    None: nothing at all (an idle system).

    One index lookup per active campaign (like a claim), one on (state, expires_at) for
    the expirations and for the live calls (at most the lines in use)."""
    times: list[datetime] = []
    if system_queries.get_flag(conn, system_queries.SUSPENDED) != "true":
        campaign_due = (
            sa.select(sa.func.min(calls_table.c.next_attempt_at))
            .where(
                calls_table.c.campaign_id == campaigns_table.c.id,
                calls_table.c.state == calls.CallState.QUEUED.value,
            )
            .correlate(campaigns_table)
            .scalar_subquery()
        )
        dialable = conn.execute(
            sa.select(sa.func.min(campaign_due))
            .select_from(campaigns_table.join(senders, senders.c.id == campaigns_table.c.sender_id))
            .where(campaigns_table.c.state == "active", senders.c.enabled.is_(True))
        ).scalar()
        if dialable is not None:
            times.append(_as_datetime(dialable))
    expiring = conn.execute(
        sa.select(sa.func.min(calls_table.c.expires_at)).where(
            calls_table.c.state == calls.CallState.QUEUED.value,
            calls_table.c.expires_at.is_not(None),
        )
    ).scalar()
    if expiring is not None:
        times.append(expiring)
    lease_ends = conn.execute(
        sa.select(sa.func.min(calls_table.c.lease_expires_at)).where(
            calls_table.c.state.in_(LIVE_STATES)
        )
    ).scalar()
    if lease_ends is not None:
        # reclaim_calls takes a lease strictly past its end.
        times.append(lease_ends + timedelta(milliseconds=1))
    canceled = sa.select(campaigns_table.c.id).where(campaigns_table.c.state == "canceled")
    to_sweep = conn.execute(
        sa.select(calls_table.c.id)
        .where(
            calls_table.c.state == calls.CallState.QUEUED.value,
            calls_table.c.campaign_id.in_(canceled.scalar_subquery()),
        )
        .limit(1)
    ).first()
    if to_sweep is not None:
        times.append(now)
    return min(times, default=None)


def _as_datetime(value: datetime | int) -> datetime:
    """The minimum of a correlated subquery comes back as it is stored (milliseconds)
    on engines that do not carry the column's type through it."""
    return value if isinstance(value, datetime) else from_millis(int(value))


def renew_call_leases(
    conn: Connection,
    *,
    worker: str,
    now: datetime,
    lease_until: datetime,
    holding: Collection[int] | None = None,
) -> list[int]:
    """The worker's heartbeat: extend its leases; returns its calls asked to cancel.

    With ``holding`` (the calls the worker has up), only those: a call leased to it that
    it does not hold (a claim whose commit reached the database but whose answer never
    came back, when the connection dropped) runs out of lease and is taken over, instead
    of being kept forever by a worker that will never dial it.

    Its calls are found by a plain read, then updated by id in id order: an UPDATE that
    scanned for them would wait on rows other workers hold, and two such waits deadlock.
    """
    owned = conn.execute(
        sa.select(calls_table.c.id, calls_table.c.cancel_requested).where(
            calls_table.c.lease_owner == worker, calls_table.c.state.in_(LIVE_STATES)
        )
    ).all()
    if holding is not None:
        owned = [row for row in owned if row[0] in holding]
    ids = sorted(call_id for call_id, _ in owned)
    if ids:
        conn.execute(
            sa.update(calls_table)
            .where(calls_table.c.id.in_(ids), calls_table.c.lease_owner == worker)
            .values(lease_expires_at=lease_until)
        )
    return [call_id for call_id, cancel in owned if cancel]


def reclaim_calls(conn: Connection, *, now: datetime, lease_s: float) -> int:
    """Take over the calls of dead workers (leases run out); returns how many.

    An attempt that was not answered is given back (the call queued again at once,
    the attempt not counted: our worker failed, not the callee), or ends ``canceled``
    if that was asked. An answered call is never dialed again: it ends ``completed``,
    connected until its worker's last heartbeat.
    """
    leases = conn.execute(
        sa.select(calls_table.c.id, calls_table.c.lease_owner, calls_table.c.lease_expires_at)
        .where(calls_table.c.state.in_(LIVE_STATES), calls_table.c.lease_expires_at < now)
        .limit(1000)
    ).all()
    if not leases:
        return 0
    lease_of = {call_id: (owner or "", expires) for call_id, owner, expires in leases}
    rows = conn.execute(select_calls().where(calls_table.c.id.in_(lease_of))).mappings()
    lost = [call_of(row) for row in rows]
    answered = attempt_queries.answered_at(conn, [(c.id, c.attempts) for c in lost])
    ends: list[attempt_queries.AttemptEnd] = []
    for call in lost:
        owner, expires = lease_of[call.id]
        answered_at, callee_type = answered.get(call.id, (None, None))
        if call.state is calls.CallState.CONNECTED and answered_at is not None:
            last_heartbeat = expires - timedelta(seconds=lease_s)
            state, next_at, given_back = calls.CallState.COMPLETED, None, False
            cause = "its worker stopped during the call"
            duration = max(0, int((last_heartbeat - answered_at).total_seconds()))
        elif call.cancel_requested:
            state, next_at, given_back = calls.CallState.CANCELED, None, False
            cause, duration, callee_type = "canceled (its worker stopped)", 0, call.callee_type
        else:
            state, next_at, given_back = calls.CallState.QUEUED, now, True
            cause, duration, callee_type = (
                "its worker stopped before an answer",
                0,
                call.callee_type,
            )
        ends.append(
            attempt_queries.AttemptEnd(
                call=call,
                attempt=call.attempts,
                worker=owner,
                outcome=calls.Outcome.ANSWER if answered_at is not None else None,
                cause=cause,
                callee_type=(callee_type or calls.CalleeType.UNKNOWN.value)
                if answered_at is not None
                else callee_type,
                ended_at=now,
                state=state,
                next_attempt_at=next_at,
                duration_s=duration,
                events=[attempt_queries.Event(call.id, now, call.attempts, "lease_lost", cause)],
                given_back=given_back,
            )
        )
    attempt_queries.finish_attempts(conn, ends, guard_owner=False)
    return len(lost)


def expire_due_calls(conn: Connection, *, now: datetime, limit: int = 1000) -> int:
    """Queued calls whose expiration has come end ``expired`` (with their result)."""
    rows = conn.execute(
        select_calls()
        .where(
            calls_table.c.state == calls.CallState.QUEUED.value,
            calls_table.c.expires_at <= now,
        )
        .limit(limit)
    ).mappings()
    due = [call_of(row) for row in rows]
    attempt_queries.finish_unattempted(conn, due, state=calls.CallState.EXPIRED, now=now)
    return len(due)
