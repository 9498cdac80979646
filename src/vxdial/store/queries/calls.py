"""Statements over ``calls``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from vxdial.domain import calls
from vxdial.store.tables import calls as calls_table
from vxdial.store.tables import campaigns as campaigns_table
from vxdial.store.tables import to_millis

_own_urls = calls_table.c.start_url.isnot(None)

# A call of an uploaded campaign keeps its URLs on the campaign row, once; a call of
# ``default`` carries its own. This is the one place that resolves the two.
_CALL_COLUMNS = (
    *(c for c in calls_table.c if c.name not in {"start_url", "result_url"}),
    campaigns_table.c.name.label("campaign_name"),
    sa.case((_own_urls, calls_table.c.start_url), else_=campaigns_table.c.start_url).label(
        "start_url"
    ),
    sa.case((_own_urls, calls_table.c.result_url), else_=campaigns_table.c.result_url).label(
        "result_url"
    ),
)


def _select_calls() -> sa.Select[tuple[object, ...]]:
    return sa.select(*_CALL_COLUMNS).select_from(
        calls_table.join(campaigns_table, campaigns_table.c.id == calls_table.c.campaign_id)
    )


def _call(row: RowMapping) -> calls.Call:
    return calls.Call(
        id=row["id"],
        sender_id=row["sender_id"],
        campaign_id=row["campaign_id"],
        campaign_name=row["campaign_name"],
        phone_number=row["phone_number"],
        ani=row["ani"],
        postd=row["postd"],
        message_reference=row["message_reference"],
        call_parameters=row["call_parameters"],
        line=row["line"],
        settings=calls.CallSettings(
            start_url=row["start_url"],
            result_url=row["result_url"],
            max_retries=row["max_retries"],
            retry_interval_s=row["retry_interval_s"],
            scheduled_at=row["scheduled_at"],
            expires_at=row["expires_at"],
        ),
        state=calls.CallState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        queued_at=row["queued_at"],
        updated_at=row["updated_at"],
    )


def insert_call(
    conn: Connection,
    *,
    sender_id: int,
    campaign_id: int,
    call: calls.NewCall,
    settings: calls.CallSettings,
    now: datetime,
) -> int:
    """Queue one call that carries its own settings; returns its id."""
    return conn.execute(
        sa.insert(calls_table)
        .values(
            sender_id=sender_id,
            campaign_id=campaign_id,
            line=call.line,
            phone_number=call.phone_number,
            ani=call.ani,
            postd=call.postd,
            message_reference=call.message_reference,
            call_parameters=call.call_parameters,
            start_url=settings.start_url,
            result_url=settings.result_url,
            max_retries=settings.max_retries,
            retry_interval_s=settings.retry_interval_s,
            scheduled_at=settings.scheduled_at,
            expires_at=settings.expires_at,
            state=calls.CallState.QUEUED.value,
            attempts=0,
            next_attempt_at=settings.scheduled_at,
            queued_at=now,
            updated_at=now,
        )
        .returning(calls_table.c.id)
    ).scalar_one()


# Column order of the bulk paths below; URLs stay NULL (the campaign holds them).
BULK_COLUMNS = (
    "sender_id",
    "campaign_id",
    "line",
    "phone_number",
    "ani",
    "postd",
    "message_reference",
    "call_parameters",
    "max_retries",
    "retry_interval_s",
    "scheduled_at",
    "expires_at",
    "state",
    "attempts",
    "next_attempt_at",
    "queued_at",
    "updated_at",
)


def bulk_rows(
    *,
    sender_id: int,
    campaign_id: int,
    new_calls: Sequence[calls.NewCall],
    settings: calls.CallSettings,
    now: datetime,
) -> list[tuple[object, ...]]:
    """Rows in ``BULK_COLUMNS`` order for calls of an uploaded campaign."""
    scheduled = to_millis(settings.scheduled_at)
    expires = None if settings.expires_at is None else to_millis(settings.expires_at)
    now_ms = to_millis(now)
    queued = calls.CallState.QUEUED.value
    retries = settings.max_retries
    interval = settings.retry_interval_s
    return [
        (
            sender_id,
            campaign_id,
            c.line,
            c.phone_number,
            c.ani,
            c.postd,
            c.message_reference,
            c.call_parameters,
            retries,
            interval,
            scheduled,
            expires,
            queued,
            0,
            scheduled,
            now_ms,
            now_ms,
        )
        for c in new_calls
    ]


def insert_calls_bulk(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Queue many calls at once: COPY on PostgreSQL, one executemany on SQLite."""
    if not rows:
        return
    columns = ", ".join(BULK_COLUMNS)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY calls ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in BULK_COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO calls ({columns}) VALUES ({marks})", list(rows))


def call_by_id(conn: Connection, sender_id: int, call_id: int) -> calls.Call | None:
    """The sender's call with this id, or None."""
    row = (
        conn.execute(
            _select_calls().where(calls_table.c.id == call_id, calls_table.c.sender_id == sender_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else _call(row)


def list_calls(
    conn: Connection,
    sender_id: int,
    *,
    campaign_id: int | None,
    state: calls.CallState | None,
    after_id: int,
    limit: int,
) -> list[calls.Call]:
    """The sender's calls with id > after_id, oldest first, optionally of one campaign/state."""
    query = _select_calls().where(calls_table.c.sender_id == sender_id, calls_table.c.id > after_id)
    if campaign_id is not None:
        query = query.where(calls_table.c.campaign_id == campaign_id)
    if state is not None:
        query = query.where(calls_table.c.state == state.value)
    rows = conn.execute(query.order_by(calls_table.c.id).limit(limit)).mappings()
    return [_call(row) for row in rows]


def campaign_call_lines(
    conn: Connection, campaign_id: int, *, after_id: int, limit: int
) -> list[tuple[int, int | None, str]]:
    """(call id, line, phone_number) of a campaign's calls after ``after_id``, by id."""
    rows = conn.execute(
        sa.select(calls_table.c.id, calls_table.c.line, calls_table.c.phone_number)
        .where(calls_table.c.campaign_id == campaign_id, calls_table.c.id > after_id)
        .order_by(calls_table.c.id)
        .limit(limit)
    )
    return [(call_id, line, number) for call_id, line, number in rows]
