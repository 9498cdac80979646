"""Statements that steer calls and campaigns: cancel, pause, resume."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.domain import calls, campaigns, errors
from vxdial.store.queries import attempts as attempt_queries
from vxdial.store.queries.calls import call_of, select_calls
from vxdial.store.tables import calls as calls_table
from vxdial.store.tables import campaigns as campaigns_table

_LIVE = ("dialing", "ringing", "connected")


def cancel_call(conn: Connection, call: calls.Call, now: datetime) -> calls.CallState:
    """Cancel a call that is not final: a queued one ends ``canceled`` now (with its
    result); one with an attempt up is asked to stop (its worker hangs up). Returns the
    state the call is in afterwards; ``Conflict`` for a final call."""
    if call.state.is_final:
        raise errors.Conflict("call", f"call {call.id} is already {call.state.value}")
    if call.state is calls.CallState.QUEUED and attempt_queries.finish_unattempted(
        conn, [call], state=calls.CallState.CANCELED, now=now
    ):
        return calls.CallState.CANCELED
    # Up now (or claimed since it was read): ask its worker to stop.
    requested = conn.execute(
        sa.update(calls_table)
        .where(calls_table.c.id == call.id, calls_table.c.state.in_(_LIVE))
        .values(cancel_requested=True, updated_at=now)
    )
    if requested.rowcount == 0:
        state = conn.execute(
            sa.select(calls_table.c.state).where(calls_table.c.id == call.id)
        ).scalar_one()
        raise errors.Conflict("call", f"call {call.id} is already {state}")
    attempt_queries.insert_events(
        conn, [attempt_queries.Event(call.id, now, call.attempts, "cancel_requested")]
    )
    return calls.CallState(
        conn.execute(sa.select(calls_table.c.state).where(calls_table.c.id == call.id)).scalar_one()
    )


_TRANSITIONS = {
    "pause": ({campaigns.CampaignState.ACTIVE}, campaigns.CampaignState.PAUSED),
    "resume": ({campaigns.CampaignState.PAUSED}, campaigns.CampaignState.ACTIVE),
    "cancel": (
        {campaigns.CampaignState.ACTIVE, campaigns.CampaignState.PAUSED},
        campaigns.CampaignState.CANCELED,
    ),
}


def steer_campaign(
    conn: Connection, campaign: campaigns.Campaign, action: str, now: datetime
) -> campaigns.CampaignState:
    """Pause, resume or cancel a campaign; ``Conflict`` if its state does not allow it.

    Cancel also asks the calls it has up to stop; its queued calls are canceled by
    ``cancel_queued_of_canceled`` (in batches: a campaign may hold millions).
    """
    if action == "cancel" and not campaigns.may_cancel(campaign):
        raise errors.Conflict("campaign", campaigns.DEFAULT_NOT_CANCELABLE)
    allowed, target = _TRANSITIONS[action]
    if campaign.state is target:
        return target  # already so: repeating the request is harmless
    if campaign.state not in allowed:
        raise errors.Conflict(
            "campaign", f"campaign {campaign.id} is {campaign.state.value}; it cannot {action}"
        )
    conn.execute(
        sa.update(campaigns_table)
        .where(campaigns_table.c.id == campaign.id)
        .values(state=target.value, updated_at=now)
    )
    if action == "cancel":
        conn.execute(
            sa.update(calls_table)
            .where(calls_table.c.campaign_id == campaign.id, calls_table.c.state.in_(_LIVE))
            .values(cancel_requested=True, updated_at=now)
        )
    return target


def cancel_queued_of_canceled(conn: Connection, *, now: datetime, limit: int) -> int:
    """Cancel up to ``limit`` queued calls of canceled campaigns (with their results)."""
    canceled = sa.select(campaigns_table.c.id).where(
        campaigns_table.c.state == campaigns.CampaignState.CANCELED.value
    )
    rows = conn.execute(
        select_calls()
        .where(
            calls_table.c.state == calls.CallState.QUEUED.value,
            calls_table.c.campaign_id.in_(canceled.scalar_subquery()),
        )
        .limit(limit)
    ).mappings()
    queued = [call_of(row) for row in rows]
    return len(
        attempt_queries.finish_unattempted(conn, queued, state=calls.CallState.CANCELED, now=now)
    )
