"""The store's side of the web interface on SQLite and PostgreSQL: the per-campaign counts
by state stay equal to the calls themselves through every kind of change (the trigger of
revision 0003 and the counts added on insert), and the keyset pages of the calls table."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import T0
from vxdial.domain import calls, campaigns
from vxdial.store import CallToQueue, Store, tables

SETTINGS = calls.CallSettings(
    start_url="http://app.example/start.vxml",
    result_url=None,
    max_retries=0,
    retry_interval_s=600,
    scheduled_at=T0,
    expires_at=None,
)

pytestmark = pytest.mark.postgres  # every test runs on SQLite and PostgreSQL


def add_sender(store: Store, login: str) -> campaigns.Sender:
    return store.add_sender(
        login=login,
        role=campaigns.Role.SENDER,
        pin_hash="x",
        lines=None,
        result_secret="s",
        now=T0,
    )


def real_counts(store: Store) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(tables.calls.c.campaign_id, tables.calls.c.state, sa.func.count()).group_by(
                tables.calls.c.campaign_id, tables.calls.c.state
            )
        )
        for campaign_id, state, n in rows:
            found.setdefault(campaign_id, {})[state] = n
    return found


def kept_counts(store: Store, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {}
    for campaign_id in campaign_ids:
        summary = store.campaign(None, campaign_id)
        nonzero = {state.value: n for state, n in summary.counts.items() if n}
        if nonzero:
            found[campaign_id] = nonzero
    return found


def upload(store: Store, sender: campaigns.Sender, name: str, count: int) -> campaigns.Campaign:
    campaign = store.start_campaign_upload(
        sender_id=sender.id, name=name, settings=SETTINGS, now=T0
    )
    half = count // 2
    for start, end in ((0, half), (half, count)):
        store.add_campaign_batch(
            sender_id=sender.id,
            campaign=campaign,
            new_calls=[
                calls.NewCall(f"1555200{i:04d}", message_reference=f"ref-{i}", line=i + 1)
                for i in range(start, end)
            ],
            rejections=[],
            now=T0,
        )
    return campaign


def test_counts_follow_every_change(store: Store) -> None:
    alice = add_sender(store, "alice")
    default = store.default_campaign(alice.id, T0)
    singles = store.queue_calls(
        [
            CallToQueue(alice.id, default.id, calls.NewCall(f"1555100{i:04d}"), SETTINGS, T0)
            for i in range(3)
        ]
    )
    listed = upload(store, alice, "listed", 10)
    store.finish_campaign_upload(listed.id, T0)
    dropped = upload(store, alice, "dropped", 4)
    store.discard_campaign_upload(dropped.id)  # its counts go with it
    ids = [default.id, listed.id]
    assert kept_counts(store, ids) == real_counts(store)
    assert kept_counts(store, ids)[listed.id] == {"queued": 10}

    listed_calls = [c.id for c in store.calls(alice.id, campaign_id=listed.id)]
    with store.engine.begin() as conn:
        # Many rows in one statement, to several states at once (as the dialer's claims
        # and the bulk updates do), then back, then a change of another column only.
        conn.execute(
            sa.update(tables.calls)
            .where(tables.calls.c.id.in_(listed_calls[:6]))
            .values(
                state=sa.case(
                    (tables.calls.c.id.in_(listed_calls[:2]), "dialing"),
                    (tables.calls.c.id.in_(listed_calls[2:4]), "completed"),
                    else_="failed",
                )
            )
        )
        conn.execute(
            sa.update(tables.calls)
            .where(tables.calls.c.id == listed_calls[0])
            .values(state="queued")
        )
        conn.execute(
            sa.update(tables.calls)
            .where(tables.calls.c.campaign_id == listed.id)
            .values(lease_owner="w1")
        )
    assert kept_counts(store, ids)[listed.id] == {
        "queued": 5,
        "dialing": 1,
        "completed": 2,
        "failed": 2,
    }
    store.cancel_call(alice.id, singles[0], T0 + timedelta(seconds=1))
    store.steer_campaign(alice.id, listed.id, "cancel", T0 + timedelta(seconds=2))
    assert kept_counts(store, ids) == real_counts(store)
    assert kept_counts(store, ids)[default.id] == {"queued": 2, "canceled": 1}
    assert kept_counts(store, ids)[listed.id]["canceled"] == 5


def test_keyset_pages_filters_and_search(store: Store) -> None:
    alice = add_sender(store, "alice")
    campaign = upload(store, alice, "paged", 25)
    store.finish_campaign_upload(campaign.id, T0)
    every = [c.id for c in store.calls(alice.id, campaign_id=campaign.id)]
    first = store.campaign_calls_page(campaign.id, limit=10)
    second = store.campaign_calls_page(campaign.id, after_id=first[-1].id, limit=10)
    third = store.campaign_calls_page(campaign.id, after_id=second[-1].id, limit=10)
    assert [c.id for c in first + second + third] == every
    back = store.campaign_calls_page(campaign.id, before_id=third[0].id, limit=10)
    assert [c.id for c in back] == [c.id for c in second]
    # Searchable once built: by the background pass, or the first search (once only).
    assert store.campaign_calls_page(campaign.id, search="ref-7") == []
    assert store.build_searches(T0) == 1
    assert store.build_search(campaign.id, T0) is False
    assert store.build_searches(T0) == 0
    store.cancel_call(alice.id, every[3], T0)
    canceled = store.campaign_calls_page(campaign.id, state=calls.CallState.CANCELED)
    assert [c.id for c in canceled] == [every[3]]
    assert [c.id for c in store.campaign_calls_page(campaign.id, search="ref-7")] == [every[7]]
    by_number = store.campaign_calls_page(campaign.id, search="+1 555 200-0012")
    assert [c.id for c in by_number] == [every[12]]
    assert store.campaign_calls_page(campaign.id, search="nothing") == []
    # Another campaign's calls never appear.
    other = upload(store, alice, "other", 2)
    store.finish_campaign_upload(other.id, T0)
    assert store.build_search(other.id, T0) is True
    assert [c.id for c in store.campaign_calls_page(campaign.id, search="ref-0")] == [every[0]]
    # Single calls of ``default`` are searchable as soon as they are queued.
    default = store.default_campaign(alice.id, T0)
    [single] = store.queue_calls(
        [
            CallToQueue(
                alice.id,
                default.id,
                calls.NewCall("15551234567", message_reference="15551234567"),
                SETTINGS,
                T0,
            )
        ]
    )
    found = store.campaign_calls_page(default.id, search="15551234567")
    assert [c.id for c in found] == [single]
    # A reference is kept as sent but found without its surrounding spaces.
    padded = upload(store, alice, "padded", 0)
    store.add_campaign_batch(
        sender_id=alice.id,
        campaign=padded,
        new_calls=[calls.NewCall("15551230000", message_reference="  ACCT 0042  ", line=1)],
        rejections=[],
        now=T0,
    )
    store.finish_campaign_upload(padded.id, T0)
    assert store.build_search(padded.id, T0) is True
    [listed] = store.campaign_calls_page(padded.id, search="ACCT 0042")
    assert listed.message_reference == "  ACCT 0042  "
    [single_padded] = store.queue_calls(
        [
            CallToQueue(
                alice.id,
                default.id,
                calls.NewCall("15551234568", message_reference=" ACCT 0043 "),
                SETTINGS,
                T0,
            )
        ]
    )
    found = store.campaign_calls_page(default.id, search="ACCT 0043")
    assert [c.id for c in found] == [single_padded]
    # A discarded upload leaves no terms behind, built or not.
    dropped = upload(store, alice, "dropped", 2)
    store.discard_campaign_upload(dropped.id)
    with store.engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(tables.call_search)
            .where(tables.call_search.c.campaign_id == dropped.id)
        ).scalar_one()
    assert left == 0
