"""Statements over the result_url outbox: ``deliveries`` and ``delivery_attempts``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.store.queries.bulk import update_rows
from vxdial.store.tables import deliveries, delivery_attempts, senders

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # given up: not accepted within the retry period


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """A result to post now."""

    id: int
    call_id: int
    delivery_key: str
    url: str
    body: str
    attempts: int  # made before this one
    created_at: datetime
    secret: str  # the sender's current result signing secret
    sender_id: int


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one POST of a result gave, and what comes next."""

    id: int
    worker: str
    at: datetime
    status: int | None  # the HTTP status, if any came back
    error: str | None
    duration_ms: int
    delivered: bool
    next_attempt_at: datetime | None  # None and not delivered: given up


@dataclass(frozen=True, slots=True)
class DeliveryTry:
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A result in the outbox, with every attempt to post it."""

    id: int
    call_id: int
    delivery_key: str
    url: str
    body: str
    state: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    tries: tuple[DeliveryTry, ...]


def claim_deliveries(
    conn: Connection,
    *,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    in_flight: Mapping[int, int] | None = None,
    per_sender: int | None = None,
) -> list[DeliveryJob]:
    """Lease due results to this worker (those of a dead worker once their lease ran out).

    With ``per_sender``, no sender gets more than that many posts in flight, counting
    ``in_flight`` (sender id -> posts this worker has out now): a sender whose result_url
    answers slowly holds at most its share of the worker's posts, never all of them.
    """
    taken = Counter(in_flight or {})
    full = [sender for sender, count in taken.items() if per_sender and count >= per_sender]
    query = (
        sa.select(
            deliveries.c.id,
            deliveries.c.call_id,
            deliveries.c.delivery_key,
            deliveries.c.url,
            deliveries.c.body,
            deliveries.c.attempts,
            deliveries.c.created_at,
            deliveries.c.sender_id,
        )
        .where(
            deliveries.c.state == PENDING,
            deliveries.c.next_attempt_at <= now,
            sa.or_(deliveries.c.lease_expires_at.is_(None), deliveries.c.lease_expires_at < now),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if full:
        query = query.where(deliveries.c.sender_id.not_in(full))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=deliveries)
    rows = []
    for row in conn.execute(query):
        if per_sender and taken[row.sender_id] >= per_sender:
            continue  # the others' turn: the next claim skips this sender altogether
        taken[row.sender_id] += 1
        rows.append(row)
    if not rows:
        return []
    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.id.in_([r.id for r in rows]))
        .values(lease_owner=worker, lease_expires_at=lease_until)
    )
    secrets = dict(
        conn.execute(
            sa.select(senders.c.id, senders.c.result_secret).where(
                senders.c.id.in_({r.sender_id for r in rows})
            )
        ).all()
    )
    return [
        DeliveryJob(
            id=r.id,
            call_id=r.call_id,
            delivery_key=r.delivery_key,
            url=r.url,
            body=r.body,
            attempts=r.attempts,
            created_at=r.created_at,
            secret=secrets[r.sender_id],
            sender_id=r.sender_id,
        )
        for r in rows
    ]


def record_deliveries(conn: Connection, outcomes: Sequence[DeliveryOutcome]) -> None:
    """Write what the posts gave: each attempt, and the result's next state."""
    if not outcomes:
        return
    conn.execute(
        sa.insert(delivery_attempts),
        [
            {
                "delivery_id": o.id,
                "at": o.at,
                "status": o.status,
                "error": None if o.error is None else o.error[:255],
                "duration_ms": o.duration_ms,
            }
            for o in outcomes
        ],
    )
    update_rows(
        conn,
        deliveries,
        [
            {
                "id": o.id,
                "lease_owner": o.worker,
                "state": DELIVERED
                if o.delivered
                else (PENDING if o.next_attempt_at is not None else FAILED),
                "next_attempt_at": o.next_attempt_at or o.at,
                "delivered_at": o.at if o.delivered else None,
            }
            for o in outcomes
        ],
        match=("id", "lease_owner"),
        assign={
            "state": "state",
            "next_attempt_at": "next_attempt_at",
            "delivered_at": "delivered_at",
            "attempts": deliveries.c.attempts + 1,
            "lease_owner": None,
            "lease_expires_at": None,
        },
        where=[deliveries.c.state == PENDING],
    )


def next_delivery_at(conn: Connection, now: datetime) -> datetime | None:
    """When a result is next due for a post by any worker (``now`` if one is due and
    free to lease now; a lease's end if every due one is leased); None: none pending.

    The deliverer asks when it has nothing to claim, so the due rows it reads are the
    ones in flight (few): the rest is one index lookup."""
    later = conn.execute(
        sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
            deliveries.c.state == PENDING, deliveries.c.next_attempt_at > now
        )
    ).scalar()
    times: list[datetime] = [] if later is None else [later]
    due_leases = conn.execute(
        sa.select(deliveries.c.lease_expires_at)
        .where(deliveries.c.state == PENDING, deliveries.c.next_attempt_at <= now)
        .limit(10_000)
    ).scalars()
    for lease_expires_at in due_leases:
        if lease_expires_at is None or lease_expires_at < now:
            return now
        times.append(lease_expires_at)
    return min(times, default=None)


def renew_delivery_leases(
    conn: Connection,
    *,
    worker: str,
    lease_until: datetime,
    holding: Collection[int] | None = None,
) -> None:
    """Keep the results this worker is posting, only those in ``holding`` if given (a
    claim whose answer was lost runs out of lease and is posted by another); found by a
    read, then updated by id: see ``leases.renew_call_leases`` on deadlocks."""
    ids = sorted(
        found
        for found in conn.execute(
            sa.select(deliveries.c.id).where(
                deliveries.c.lease_owner == worker, deliveries.c.state == PENDING
            )
        ).scalars()
        if holding is None or found in holding
    )
    if ids:
        conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id.in_(ids), deliveries.c.lease_owner == worker)
            .values(lease_expires_at=lease_until)
        )


def deliveries_of_call(conn: Connection, call_id: int) -> list[Delivery]:
    """The call's result deliveries (at most one), with their attempts."""
    rows = conn.execute(sa.select(deliveries).where(deliveries.c.call_id == call_id)).mappings()
    found = []
    for r in rows:
        tries = conn.execute(
            sa.select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == r["id"])
            .order_by(delivery_attempts.c.id)
        ).mappings()
        found.append(
            Delivery(
                id=r["id"],
                call_id=r["call_id"],
                delivery_key=r["delivery_key"],
                url=r["url"],
                body=r["body"],
                state=r["state"],
                attempts=r["attempts"],
                next_attempt_at=r["next_attempt_at"],
                created_at=r["created_at"],
                delivered_at=r["delivered_at"],
                tries=tuple(
                    DeliveryTry(t["at"], t["status"], t["error"], t["duration_ms"]) for t in tries
                ),
            )
        )
    return found
