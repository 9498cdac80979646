"""Statements over ``calls``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from vxdial.domain import calls
from vxdial.store.queries import search
from vxdial.store.queries.campaigns import add_to_count, settings_of
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


def select_calls() -> sa.Select[tuple[object, ...]]:
    return sa.select(*_CALL_COLUMNS).select_from(
        calls_table.join(campaigns_table, campaigns_table.c.id == calls_table.c.campaign_id)
    )


def call_of(row: RowMapping) -> calls.Call:
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
        settings=settings_of(row),
        state=calls.CallState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        queued_at=row["queued_at"],
        updated_at=row["updated_at"],
        callee_type=row["callee_type"],
        first_attempt_at=row["first_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        ended_at=row["ended_at"],
        duration_s=row["duration_s"],
        cancel_requested=bool(row["cancel_requested"]),
    )


# Built once: every queuecall runs it (building it per call cost more than the insert).
_INSERT_CALL = sa.insert(calls_table).returning(calls_table.c.id)


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
    call_id: int = conn.execute(
        _INSERT_CALL,
        {
            "sender_id": sender_id,
            "campaign_id": campaign_id,
            "line": call.line,
            "phone_number": call.phone_number,
            "ani": call.ani,
            "postd": call.postd,
            "message_reference": call.message_reference,
            "call_parameters": call.call_parameters,
            "start_url": settings.start_url,
            "result_url": settings.result_url,
            "max_retries": settings.max_retries,
            "retry_interval_s": settings.retry_interval_s,
            "scheduled_at": settings.scheduled_at,
            "expires_at": settings.expires_at,
            "state": calls.CallState.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": settings.scheduled_at,
            "queued_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    add_to_count(conn, campaign_id, calls.CallState.QUEUED, 1)
    search.index_call(
        conn,
        campaign_id=campaign_id,
        call_id=call_id,
        phone_number=call.phone_number,
        message_reference=call.message_reference,
    )
    return call_id


# The columns a phone_list line fills, in ``NewCall`` order; the rest of a bulk row is
# the same for every call of the campaign.
_LINE_COLUMNS = ("phone_number", "ani", "postd", "message_reference", "call_parameters", "line")


def allocate_call_ids(conn: Connection, count: int) -> Sequence[int]:
    """Reserve ``count`` ids for calls this transaction is about to insert.

    PostgreSQL draws them from the column's sequence (safe beside concurrent inserts);
    SQLite continues after the largest id, which is safe because this runs inside a
    write transaction (BEGIN IMMEDIATE): no other writer can insert meanwhile.
    """
    if count <= 0:
        return ()
    if conn.dialect.name == "postgresql":
        return (
            conn.execute(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence('calls', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
            .scalars()
            .all()
        )
    # AUTOINCREMENT keeps the largest id ever used in sqlite_sequence (ids of deleted
    # calls included); an explicit id above it moves it on.
    first: int = conn.exec_driver_sql(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'calls'), 0),"
        " COALESCE((SELECT MAX(id) FROM calls), 0)) + 1"
    ).scalar_one()
    return range(first, first + count)


def insert_calls_bulk(
    conn: Connection,
    *,
    sender_id: int,
    campaign_id: int,
    settings: calls.CallSettings,
    new_calls: Sequence[calls.NewCall],
    now: datetime,
) -> Sequence[int]:
    """Queue many calls of an uploaded campaign; returns their ids, in order.

    COPY on PostgreSQL, one executemany on SQLite. The per-line values go to the
    driver as the ``NewCall`` tuples they are (plus the id); the values shared by the
    whole campaign are appended (COPY) or written into the statement (SQLite), so no
    per-row dict is built. URLs stay NULL: the campaign holds them.
    """
    if not new_calls:
        return ()
    ids = allocate_call_ids(conn, len(new_calls))
    now_ms = to_millis(now)
    scheduled_ms = to_millis(settings.scheduled_at)
    shared: dict[str, int | str | None] = {
        "sender_id": int(sender_id),
        "campaign_id": int(campaign_id),
        "max_retries": int(settings.max_retries),
        "retry_interval_s": int(settings.retry_interval_s),
        "scheduled_at": scheduled_ms,
        "expires_at": None if settings.expires_at is None else to_millis(settings.expires_at),
        "state": calls.CallState.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": scheduled_ms,
        "queued_at": now_ms,
        "updated_at": now_ms,
    }
    columns = ", ".join((*_LINE_COLUMNS, "id", *shared))
    if conn.dialect.name == "postgresql":
        tail = tuple(shared.values())
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY calls ({columns}) FROM STDIN") as copy:
            for call, call_id in zip(new_calls, ids, strict=True):
                copy.write_row((*call, call_id, *tail))
        add_to_count(conn, campaign_id, calls.CallState.QUEUED, len(new_calls))
        return ids
    literals = ", ".join(_sql_literal(value) for value in shared.values())
    marks = ", ".join("?" for _ in range(len(_LINE_COLUMNS) + 1))
    conn.exec_driver_sql(
        f"INSERT INTO calls ({columns}) VALUES ({marks}, {literals})",
        [(*call, call_id) for call, call_id in zip(new_calls, ids, strict=True)],
    )
    add_to_count(conn, campaign_id, calls.CallState.QUEUED, len(new_calls))
    return ids


def _sql_literal(value: int | str | None) -> str:
    # Only our own ints and the fixed state name reach here, never user text.
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    if not value.isidentifier():
        raise ValueError(f"not a literal for SQL: {value!r}")
    return f"'{value}'"


def relax_durability(conn: Connection) -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL).

    Safe where a later, normal commit is what makes the work count: that commit's
    flush also makes every earlier commit durable, the WAL being written in order.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


def call_by_id(conn: Connection, sender_id: int | None, call_id: int) -> calls.Call | None:
    """The sender's call with this id (any sender's if ``sender_id`` is None), or None."""
    query = select_calls().where(calls_table.c.id == call_id)
    if sender_id is not None:
        query = query.where(calls_table.c.sender_id == sender_id)
    row = conn.execute(query).mappings().first()
    return None if row is None else call_of(row)


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
    query = select_calls().where(calls_table.c.sender_id == sender_id, calls_table.c.id > after_id)
    if campaign_id is not None:
        query = query.where(calls_table.c.campaign_id == campaign_id)
    if state is not None:
        query = query.where(calls_table.c.state == state.value)
    rows = conn.execute(query.order_by(calls_table.c.id).limit(limit)).mappings()
    return [call_of(row) for row in rows]
