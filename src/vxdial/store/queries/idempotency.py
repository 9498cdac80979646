"""Statements over ``idempotency_keys`` (the JSON API's ``Idempotency-Key`` header)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.store.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class KeyRecord:
    endpoint: str
    request_hash: str
    resource_id: int | None  # None: the first request with this key is still running
    reserved_until: datetime


def reserve_key(
    conn: Connection,
    *,
    sender_id: int,
    key: str,
    endpoint: str,
    request_hash: str,
    reserved_until: datetime,
    now: datetime,
) -> KeyRecord | None:
    """Claim ``key`` for a new request; returns None if claimed, else what holds it.

    A claim whose request died (past ``reserved_until``, no resource) is taken over.
    """
    existing = (
        conn.execute(
            sa.select(idempotency_keys)
            .where(idempotency_keys.c.sender_id == sender_id, idempotency_keys.c.key == key)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    if existing is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    sa.insert(idempotency_keys).values(
                        sender_id=sender_id,
                        key=key,
                        endpoint=endpoint,
                        request_hash=request_hash,
                        resource_id=None,
                        reserved_until=reserved_until,
                        created_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            # Another request claimed it between our SELECT and INSERT.
            return KeyRecord(endpoint, request_hash, None, reserved_until)
        return None
    record = KeyRecord(
        existing["endpoint"],
        existing["request_hash"],
        existing["resource_id"],
        existing["reserved_until"],
    )
    if record.resource_id is None and record.reserved_until <= now:
        conn.execute(
            sa.update(idempotency_keys)
            .where(idempotency_keys.c.id == existing["id"])
            .values(endpoint=endpoint, request_hash=request_hash, reserved_until=reserved_until)
        )
        return None
    return record


def complete_key(conn: Connection, *, sender_id: int, key: str, resource_id: int) -> None:
    """Record what the request with ``key`` created (same transaction as the creation)."""
    conn.execute(
        sa.update(idempotency_keys)
        .where(idempotency_keys.c.sender_id == sender_id, idempotency_keys.c.key == key)
        .values(resource_id=resource_id)
    )


def release_key(conn: Connection, *, sender_id: int, key: str) -> None:
    """Forget a claim whose request failed, so the client may retry with the same key."""
    conn.execute(
        sa.delete(idempotency_keys).where(
            idempotency_keys.c.sender_id == sender_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.resource_id.is_(None),
        )
    )


def delete_keys_before(conn: Connection, cutoff: datetime) -> int:
    """Drop keys older than ``cutoff`` (they are kept 24 hours); returns how many."""
    result = conn.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
    return result.rowcount
