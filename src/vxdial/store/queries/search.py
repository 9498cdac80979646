"""Statements over ``call_search``: the terms (number, message_reference) a campaign's
calls are found by in the web interface's calls table."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.domain.campaigns import CampaignState
from vxdial.store.tables import call_search, call_search_built, campaigns, to_millis

# An upload's terms, built once at its end in term order: the rows go into the B-tree
# one after another instead of one page each (see tables.call_search). A reference
# equal to the call's number is the same term, left out so that no row repeats. A
# reference is kept as sent ("  ACCT 0042  "), but found without its surrounding spaces
# (the search box trims what is typed): TRIM() removes spaces on both engines, as
# ``reference_term`` does for single calls.
_INDEX_CAMPAIGN = sa.text(
    "INSERT INTO call_search (campaign_id, term, call_id)"
    " SELECT campaign_id, term, call_id FROM ("
    "  SELECT campaign_id, phone_number AS term, id AS call_id FROM calls"
    "  WHERE campaign_id = :campaign_id"
    "  UNION ALL"
    "  SELECT campaign_id, TRIM(message_reference), id FROM calls"
    "  WHERE campaign_id = :campaign_id AND message_reference IS NOT NULL"
    "  AND TRIM(message_reference) NOT IN (phone_number, '')"
    " ) AS terms ORDER BY term, call_id"
)
# PostgreSQL sorts a million terms in memory rather than in temporary files (the
# setting ends with the transaction).
SORT_MEMORY = "256MB"


_CLAIM_BUILD = sa.text(
    "INSERT INTO call_search_built (campaign_id, built_at) VALUES (:campaign_id, :now)"
    " ON CONFLICT (campaign_id) DO NOTHING"
)


def index_campaign(conn: Connection, campaign_id: int, now: datetime) -> bool:
    """Add the search terms of every call of an uploaded campaign, unless they are
    there already (or another transaction is adding them); returns whether it did.

    The mark goes first: on PostgreSQL a second builder waits on it until the first
    commits, then finds it and does nothing.
    """
    claimed = conn.execute(
        _CLAIM_BUILD, {"campaign_id": campaign_id, "now": to_millis(now)}
    ).rowcount
    if not claimed:
        return False
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
    conn.execute(_INDEX_CAMPAIGN, {"campaign_id": campaign_id})
    return True


def refresh_statistics(conn: Connection) -> None:
    """PostgreSQL: sample ``calls`` again after an upload added many rows.

    Until then the planner believes the table is as small as it was (a fresh database:
    empty), and pages a million-call campaign with a bitmap over the whole campaign and a
    sort: 1 s a page of the results export instead of milliseconds, until autovacuum
    analyzes the table by itself. ANALYZE reads a fixed-size sample (a fraction of a
    second) and takes no lock that blocks reads or writes.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE calls, call_search")


def unbuilt_campaign_ids(conn: Connection, limit: int) -> list[int]:
    """Uploaded campaigns (loaded, not ``default``) whose terms are not added yet."""
    rows = conn.execute(
        sa.select(campaigns.c.id)
        .where(
            campaigns.c.state != CampaignState.LOADING.value,
            campaigns.c.start_url.isnot(None),
            campaigns.c.id.not_in(sa.select(call_search_built.c.campaign_id)),
        )
        .order_by(campaigns.c.id)
        .limit(limit)
    )
    return [row[0] for row in rows]


def is_built(conn: Connection, campaign_id: int) -> bool:
    found = conn.execute(
        sa.select(call_search_built.c.campaign_id).where(
            call_search_built.c.campaign_id == campaign_id
        )
    ).first()
    return found is not None


def index_call(
    conn: Connection,
    *,
    campaign_id: int,
    call_id: int,
    phone_number: str,
    message_reference: str | None,
) -> None:
    """Add the search terms of one call queued on its own."""
    terms = {phone_number, reference_term(message_reference)} - {None, ""}
    conn.execute(
        sa.insert(call_search),
        [{"campaign_id": campaign_id, "term": term, "call_id": call_id} for term in terms],
    )


def reference_term(message_reference: str | None) -> str | None:
    """The term a message_reference is found by: without surrounding spaces."""
    return None if message_reference is None else message_reference.strip(" ")


def delete_campaign_terms(conn: Connection, campaign_id: int) -> None:
    conn.execute(sa.delete(call_search).where(call_search.c.campaign_id == campaign_id))
    conn.execute(sa.delete(call_search_built).where(call_search_built.c.campaign_id == campaign_id))


def matching_call_ids(campaign_id: int, terms: list[str]) -> sa.Select[tuple[int]]:
    """A subquery: the ids of the campaign's calls with one of these terms."""
    return sa.select(call_search.c.call_id).where(
        call_search.c.campaign_id == campaign_id, call_search.c.term.in_(terms)
    )
