"""Statements of the web interface: sessions, the audit log, and the calls table's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.domain import calls, campaigns
from vxdial.store.queries import search as search_queries
from vxdial.store.queries.calls import call_of, select_calls
from vxdial.store.queries.senders import _sender
from vxdial.store.tables import audit_log, senders, web_sessions
from vxdial.store.tables import calls as calls_table


@dataclass(frozen=True, slots=True)
class WebSession:
    """A logged-in browser: whose it is and the token its forms must carry."""

    id: int
    sender: campaigns.Sender
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    admin: str
    action: str
    target: str | None
    address: str | None
    via: str  # web | api | cli
    detail: str | None = None
    id: int = 0  # set once stored


def insert_session(
    conn: Connection,
    *,
    token_hash: str,
    sender_id: int,
    csrf_token: str,
    address: str | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Open a session."""
    conn.execute(
        sa.insert(web_sessions).values(
            token_hash=token_hash,
            sender_id=sender_id,
            csrf_token=csrf_token,
            address=(address or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )


def session_by_token(conn: Connection, token_hash: str, now: datetime) -> WebSession | None:
    """The unexpired session with this token hash, with its account, or None."""
    row = (
        conn.execute(
            sa.select(
                web_sessions.c.id.label("session_id"),
                web_sessions.c.csrf_token,
                web_sessions.c.created_at.label("session_created_at"),
                web_sessions.c.last_seen_at,
                web_sessions.c.expires_at,
                *senders.c,
            )
            .select_from(web_sessions.join(senders, senders.c.id == web_sessions.c.sender_id))
            .where(web_sessions.c.token_hash == token_hash, web_sessions.c.expires_at > now)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return WebSession(
        id=row["session_id"],
        sender=_sender(row),
        csrf_token=row["csrf_token"],
        created_at=row["session_created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
    )


def touch_session(conn: Connection, session_id: int, now: datetime, expires_at: datetime) -> None:
    """Note the session's use and push its expiry back."""
    conn.execute(
        sa.update(web_sessions)
        .where(web_sessions.c.id == session_id)
        .values(last_seen_at=now, expires_at=expires_at)
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    """Close a session (logout)."""
    conn.execute(sa.delete(web_sessions).where(web_sessions.c.token_hash == token_hash))


def delete_sessions_of(conn: Connection, sender_id: int) -> int:
    """Close every session of an account (its PIN was reset)."""
    return conn.execute(
        sa.delete(web_sessions).where(web_sessions.c.sender_id == sender_id)
    ).rowcount


def delete_expired_sessions(conn: Connection, now: datetime) -> int:
    return conn.execute(sa.delete(web_sessions).where(web_sessions.c.expires_at <= now)).rowcount


def insert_audit(conn: Connection, entry: AuditEntry) -> None:
    """Record one admin action."""
    conn.execute(
        sa.insert(audit_log).values(
            at=entry.at,
            admin=entry.admin[:128],
            action=entry.action[:64],
            target=None if entry.target is None else entry.target[:255],
            address=None if entry.address is None else entry.address[:64],
            via=entry.via,
            detail=None if entry.detail is None else entry.detail[:512],
        )
    )


def audit_entries(conn: Connection, *, before_id: int | None, limit: int) -> list[AuditEntry]:
    """The audit log, newest first, from before ``before_id``."""
    query = sa.select(audit_log)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).mappings()
    return [
        AuditEntry(
            id=row["id"],
            at=row["at"],
            admin=row["admin"],
            action=row["action"],
            target=row["target"],
            address=row["address"],
            via=row["via"],
            detail=row["detail"],
        )
        for row in rows
    ]


def campaign_calls_page(
    conn: Connection,
    campaign_id: int,
    *,
    state: calls.CallState | None,
    search: str | None,
    after_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[calls.Call]:
    """A page of a campaign's calls by id (keyset paging: each page costs the same,
    however deep): the ``limit`` calls after ``after_id``, or the ``limit`` calls
    before ``before_id`` (still in ascending order). ``search`` matches the number
    or the message_reference exactly (through ``call_search``). Every filter is served
    by an index that starts with campaign_id, so no page scans the campaign."""
    query = select_calls().where(calls_table.c.campaign_id == campaign_id)
    if state is not None:
        query = query.where(calls_table.c.state == state.value)
    if search:
        # The number as typed ("+1 555-123 4567") is found by its digits.
        terms = [search]
        numeric = "".join(ch for ch in search if ch.isdigit())
        if numeric and numeric != search:
            terms.append(numeric)
        query = query.where(
            calls_table.c.id.in_(search_queries.matching_call_ids(campaign_id, terms))
        )
    if before_id is not None:
        query = query.where(calls_table.c.id < before_id).order_by(calls_table.c.id.desc())
        rows = list(conn.execute(query.limit(limit)).mappings())
        rows.reverse()
    else:
        if after_id is not None:
            query = query.where(calls_table.c.id > after_id)
        rows = list(conn.execute(query.order_by(calls_table.c.id).limit(limit)).mappings())
    return [call_of(row) for row in rows]
