"""Statements over ``campaigns`` and ``campaign_rejections``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from vxdial.domain import calls, campaigns, errors
from vxdial.store.queries import search
from vxdial.store.tables import calls as calls_table
from vxdial.store.tables import campaign_counts, campaign_rejections
from vxdial.store.tables import campaigns as campaigns_table


def settings_of(row: RowMapping) -> calls.CallSettings:
    """The settings columns of a calls or campaigns row (the two tables name them alike)."""
    return calls.CallSettings(
        start_url=row["start_url"],
        result_url=row["result_url"],
        max_retries=row["max_retries"],
        retry_interval_s=row["retry_interval_s"],
        scheduled_at=row["scheduled_at"],
        expires_at=row["expires_at"],
    )


def _campaign(row: RowMapping) -> campaigns.Campaign:
    settings = None if row["start_url"] is None else settings_of(row)
    return campaigns.Campaign(
        id=row["id"],
        sender_id=row["sender_id"],
        name=row["name"],
        state=campaigns.CampaignState(row["state"]),
        settings=settings,
        created_at=row["created_at"],
    )


def insert_campaign(
    conn: Connection,
    *,
    sender_id: int,
    name: str,
    state: campaigns.CampaignState,
    settings: calls.CallSettings | None,
    now: datetime,
) -> campaigns.Campaign:
    """Create a campaign; ``Conflict`` on campaign_name if the sender already has one so named."""
    values: dict[str, object] = {
        "sender_id": sender_id,
        "name": name,
        "state": state.value,
        "created_at": now,
        "updated_at": now,
    }
    if settings is not None:
        values.update(
            start_url=settings.start_url,
            result_url=settings.result_url,
            max_retries=settings.max_retries,
            retry_interval_s=settings.retry_interval_s,
            scheduled_at=settings.scheduled_at,
            expires_at=settings.expires_at,
        )
    try:
        with conn.begin_nested():
            row = (
                conn.execute(
                    sa.insert(campaigns_table).values(**values).returning(*campaigns_table.c)
                )
                .mappings()
                .one()
            )
    except sa.exc.IntegrityError as exc:
        raise errors.Conflict(
            "campaign_name", f'you already have a campaign named "{name}"'
        ) from exc
    return _campaign(row)


def campaign_by_name(conn: Connection, sender_id: int, name: str) -> campaigns.Campaign | None:
    """The sender's campaign with this name, or None."""
    row = (
        conn.execute(
            sa.select(campaigns_table).where(
                campaigns_table.c.sender_id == sender_id, campaigns_table.c.name == name
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _campaign(row)


def campaign_by_id(
    conn: Connection, sender_id: int | None, campaign_id: int
) -> campaigns.Campaign | None:
    """The sender's campaign with this id (any sender's if ``sender_id`` is None; never
    one still loading), or None."""
    query = sa.select(campaigns_table).where(
        campaigns_table.c.id == campaign_id,
        campaigns_table.c.state != campaigns.CampaignState.LOADING.value,
    )
    if sender_id is not None:
        query = query.where(campaigns_table.c.sender_id == sender_id)
    row = conn.execute(query).mappings().first()
    return None if row is None else _campaign(row)


def list_campaigns(
    conn: Connection, sender_id: int, *, after_id: int, limit: int
) -> list[campaigns.Campaign]:
    """The sender's visible campaigns with id > after_id, oldest first."""
    rows = conn.execute(
        sa.select(campaigns_table)
        .where(
            campaigns_table.c.sender_id == sender_id,
            campaigns_table.c.id > after_id,
            campaigns_table.c.state != campaigns.CampaignState.LOADING.value,
        )
        .order_by(campaigns_table.c.id)
        .limit(limit)
    ).mappings()
    return [_campaign(row) for row in rows]


def count_calls_by_state(
    conn: Connection, campaign_ids: Sequence[int]
) -> dict[int, dict[calls.CallState, int]]:
    """For each campaign id, its calls counted by state (every state present, zeros included).

    Reads ``campaign_counts`` (a few rows a campaign), not the calls themselves.
    """
    counts = {cid: dict.fromkeys(calls.CallState, 0) for cid in campaign_ids}
    if not campaign_ids:
        return counts
    rows = conn.execute(
        sa.select(
            campaign_counts.c.campaign_id, campaign_counts.c.state, campaign_counts.c.calls
        ).where(campaign_counts.c.campaign_id.in_(campaign_ids))
    )
    for campaign_id, state, number in rows:
        counts[campaign_id][calls.CallState(state)] = int(number)
    return counts


# One statement for both engines (SQLite 3.24+ and PostgreSQL know ON CONFLICT).
_ADD_COUNT = sa.text(
    "INSERT INTO campaign_counts (campaign_id, state, calls) VALUES (:campaign_id, :state, :n)"
    " ON CONFLICT (campaign_id, state) DO UPDATE SET calls = campaign_counts.calls + :n"
)


def add_to_count(conn: Connection, campaign_id: int, state: calls.CallState, n: int) -> None:
    """Count ``n`` more calls of the campaign in ``state`` (calls just inserted).

    State changes are counted by the database's trigger on ``calls.state``.
    """
    if n:
        conn.execute(_ADD_COUNT, {"campaign_id": campaign_id, "state": state.value, "n": n})


def touch_loading(conn: Connection, campaign_id: int, now: datetime) -> bool:
    """A loading campaign's heartbeat; False if it is no longer loading (discarded)."""
    result = conn.execute(
        sa.update(campaigns_table)
        .where(
            campaigns_table.c.id == campaign_id,
            campaigns_table.c.state == campaigns.CampaignState.LOADING.value,
        )
        .values(updated_at=now)
    )
    return result.rowcount == 1


def finish_loading(conn: Connection, campaign_id: int, now: datetime) -> bool:
    """Make a loading campaign active; False if it is no longer loading (discarded)."""
    result = conn.execute(
        sa.update(campaigns_table)
        .where(
            campaigns_table.c.id == campaign_id,
            campaigns_table.c.state == campaigns.CampaignState.LOADING.value,
        )
        .values(state=campaigns.CampaignState.ACTIVE.value, updated_at=now)
    )
    return result.rowcount == 1


def stale_loading_campaign_ids(
    conn: Connection, *, idle_since: datetime, sender_id: int | None = None, name: str | None = None
) -> list[int]:
    """Loading campaigns untouched since ``idle_since``: their upload's process died."""
    query = sa.select(campaigns_table.c.id).where(
        campaigns_table.c.state == campaigns.CampaignState.LOADING.value,
        campaigns_table.c.updated_at < idle_since,
    )
    if sender_id is not None:
        query = query.where(campaigns_table.c.sender_id == sender_id)
    if name is not None:
        query = query.where(campaigns_table.c.name == name)
    return list(conn.execute(query).scalars())


def delete_campaign(conn: Connection, campaign_id: int) -> None:
    """Remove a campaign with its calls and rejections (only for one that never loaded)."""
    conn.execute(sa.delete(calls_table).where(calls_table.c.campaign_id == campaign_id))
    conn.execute(sa.delete(campaign_counts).where(campaign_counts.c.campaign_id == campaign_id))
    search.delete_campaign_terms(conn, campaign_id)
    conn.execute(
        sa.delete(campaign_rejections).where(campaign_rejections.c.campaign_id == campaign_id)
    )
    conn.execute(sa.delete(campaigns_table).where(campaigns_table.c.id == campaign_id))


def insert_rejections(
    conn: Connection, campaign_id: int, rejections: Iterable[tuple[int, str]]
) -> None:
    """Record (line, reason) for each phone_list line that was not queued (a reason is
    kept to the column's 512 characters: reasons quote bounded values, but one longer
    would fail the whole upload on PostgreSQL)."""
    rows = [
        {"campaign_id": campaign_id, "line": line, "reason": _kept(reason)}
        for line, reason in rejections
    ]
    if rows:
        conn.execute(sa.insert(campaign_rejections), rows)


REASON_MAX = 512  # campaign_rejections.reason


def _kept(reason: str) -> str:
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


def rejections(
    conn: Connection, campaign_id: int, *, after_line: int, limit: int
) -> list[tuple[int, str]]:
    """(line, reason) of rejected lines after ``after_line``, in line order."""
    rows = conn.execute(
        sa.select(campaign_rejections.c.line, campaign_rejections.c.reason)
        .where(
            campaign_rejections.c.campaign_id == campaign_id,
            campaign_rejections.c.line > after_line,
        )
        .order_by(campaign_rejections.c.line)
        .limit(limit)
    )
    return [(line, reason) for line, reason in rows]


def count_rejections(conn: Connection, campaign_id: int) -> int:
    """How many lines of the campaign's phone_list were rejected."""
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(campaign_rejections)
        .where(campaign_rejections.c.campaign_id == campaign_id)
    ).scalar_one()
