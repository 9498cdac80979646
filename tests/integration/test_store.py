"""store.Store on SQLite and PostgreSQL: accounts, campaigns, bulk calls, idempotency keys."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import T0
from vxdial.domain import calls, campaigns, errors
from vxdial.store import CallToQueue, Store

SETTINGS = calls.CallSettings(
    start_url="http://app.example/start",
    result_url="http://app.example/result",
    max_retries=2,
    retry_interval_s=300,
    scheduled_at=T0,
    expires_at=T0 + timedelta(days=1),
)


def add_sender(store: Store, login: str = "alice") -> campaigns.Sender:
    return store.add_sender(
        login=login,
        role=campaigns.Role.SENDER,
        pin_hash="hash",
        lines=None,
        result_secret="secret",
        now=T0,
    )


def test_sender_gets_a_default_campaign_and_login_is_unique(store: Store) -> None:
    alice = add_sender(store)
    [summary] = store.campaigns(alice.id)
    assert summary.campaign.name == campaigns.DEFAULT_CAMPAIGN_NAME
    assert summary.campaign.settings is None
    assert summary.total == 0
    with pytest.raises(errors.Conflict) as caught:
        add_sender(store)
    assert caught.value.field == "login"


def test_admin_has_no_default_campaign(store: Store) -> None:
    admin = store.add_sender(
        login="admin",
        role=campaigns.Role.ADMIN,
        pin_hash="h",
        lines=None,
        result_secret="s",
        now=T0,
    )
    assert store.campaigns(admin.id) == []


def test_update_sender(store: Store) -> None:
    add_sender(store)
    changed = store.update_sender("alice", enabled=False, lines=3, now=T0)
    assert (changed.enabled, changed.lines) == (False, 3)
    unchanged_lines = store.update_sender("alice", enabled=True, now=T0)
    assert unchanged_lines.lines == 3
    cleared = store.update_sender("alice", lines=None, now=T0)
    assert cleared.lines is None
    with pytest.raises(errors.NotFound):
        store.update_sender("nobody", enabled=False, now=T0)


def test_single_calls_in_one_group(store: Store) -> None:
    alice = add_sender(store)
    default = store.default_campaign(alice.id, T0)
    ids = store.queue_calls(
        [
            CallToQueue(
                alice.id, default.id, calls.NewCall("15551230000", ani="15550001111"), SETTINGS, T0
            ),
            CallToQueue(
                alice.id,
                default.id,
                calls.NewCall(
                    "15551230001", postd="12#", message_reference="m", call_parameters="p"
                ),
                SETTINGS,
                T0,
            ),
        ]
    )
    assert ids == sorted(ids) and len(set(ids)) == 2
    first = store.call(alice.id, ids[0])
    assert first.phone_number == "15551230000" and first.ani == "15550001111"
    assert first.state is calls.CallState.QUEUED
    assert first.settings == SETTINGS
    assert first.campaign_name == "default"
    assert first.next_attempt_at == T0
    second = store.call(alice.id, ids[1])
    assert (second.postd, second.message_reference, second.call_parameters) == ("12#", "m", "p")


def test_a_stored_rejection_keeps_a_bounded_reason(store: Store) -> None:
    alice = add_sender(store)
    campaign = store.start_campaign_upload(
        sender_id=alice.id, name="long", settings=SETTINGS, now=T0
    )
    store.add_campaign_batch(
        sender_id=alice.id,
        campaign=campaign,
        new_calls=[calls.NewCall("15550000001", line=1)],
        rejections=[(2, "r" * 100_000), (3, "short")],
        now=T0,
    )
    [(_, long), (_, short)] = store.campaign_rejections(campaign.id)
    assert long == "r" * 511 + "…" and short == "short"


def test_uploaded_campaign_is_invisible_until_finished(store: Store) -> None:
    alice = add_sender(store)
    campaign = store.start_campaign_upload(
        sender_id=alice.id, name="spring", settings=SETTINGS, now=T0
    )
    batch = [
        calls.NewCall(f"1555000{i:04d}", message_reference=f"r{i}", line=i + 1) for i in range(1200)
    ]
    ids_a = store.add_campaign_batch(
        sender_id=alice.id,
        campaign=campaign,
        new_calls=batch[:700],
        rejections=[(5000, "bad")],
        now=T0,
    )
    ids_b = store.add_campaign_batch(
        sender_id=alice.id, campaign=campaign, new_calls=batch[700:], rejections=[], now=T0
    )
    ids = [*ids_a, *ids_b]
    assert ids == sorted(ids) and len(set(ids)) == 1200
    with pytest.raises(errors.NotFound):
        store.campaign(alice.id, campaign.id)
    assert [s.campaign.name for s in store.campaigns(alice.id)] == ["default"]

    store.finish_campaign_upload(campaign.id, T0)
    summary = store.campaign(alice.id, campaign.id)
    assert summary.total == 1200
    assert summary.counts[calls.CallState.QUEUED] == 1200
    assert summary.campaign.settings == SETTINGS
    stored_calls = store.calls(alice.id, campaign_id=campaign.id, limit=5000)
    assert [(c.id, c.line) for c in stored_calls] == list(zip(ids, range(1, 1201), strict=True))
    stored = store.call(alice.id, ids[10])
    assert stored.settings == SETTINGS  # the campaign's URLs resolve for its calls
    assert stored.message_reference == "r10"
    assert store.campaign_rejections(campaign.id) == [(5000, "bad")]
    assert store.count_campaign_rejections(campaign.id) == 1


def test_campaign_names_are_unique_per_sender(store: Store) -> None:
    alice = add_sender(store)
    bob = add_sender(store, "bob")
    store.start_campaign_upload(sender_id=alice.id, name="x", settings=SETTINGS, now=T0)
    with pytest.raises(errors.Conflict) as caught:
        store.start_campaign_upload(sender_id=alice.id, name="x", settings=SETTINGS, now=T0)
    assert caught.value.field == "campaign_name"
    store.start_campaign_upload(sender_id=bob.id, name="x", settings=SETTINGS, now=T0)


def test_unfinished_uploads_are_discarded(store: Store) -> None:
    alice = add_sender(store)
    campaign = store.start_campaign_upload(
        sender_id=alice.id, name="half", settings=SETTINGS, now=T0
    )
    store.add_campaign_batch(
        sender_id=alice.id,
        campaign=campaign,
        new_calls=[calls.NewCall("15551234567", line=1)],
        rejections=[(2, "bad")],
        now=T0,
    )
    # Still being stored by a live process (its last batch is recent): kept.
    assert store.discard_unfinished_uploads(T0 + timedelta(minutes=5)) == 0
    with pytest.raises(errors.Conflict):
        store.start_campaign_upload(
            sender_id=alice.id, name="half", settings=SETTINGS, now=T0 + timedelta(minutes=5)
        )
    # Idle past the limit: its process died.
    assert store.discard_unfinished_uploads(T0 + timedelta(minutes=11)) == 1
    assert store.calls(alice.id) == []
    assert store.campaign_rejections(campaign.id) == []
    # The name is free again for the client's retry.
    store.start_campaign_upload(sender_id=alice.id, name="half", settings=SETTINGS, now=T0)


def test_a_retried_upload_takes_over_a_dead_one(store: Store) -> None:
    alice = add_sender(store)
    dead = store.start_campaign_upload(sender_id=alice.id, name="n", settings=SETTINGS, now=T0)
    store.add_campaign_batch(
        sender_id=alice.id,
        campaign=dead,
        new_calls=[calls.NewCall("15551234567", line=1)],
        rejections=[],
        now=T0,
    )
    retry = store.start_campaign_upload(
        sender_id=alice.id, name="n", settings=SETTINGS, now=T0 + timedelta(minutes=11)
    )
    assert retry.state is campaigns.CampaignState.LOADING
    assert store.calls(alice.id) == []  # the dead upload's calls are gone


def test_senders_see_only_their_own(store: Store) -> None:
    alice = add_sender(store)
    bob = add_sender(store, "bob")
    default = store.default_campaign(alice.id, T0)
    [call_id] = store.queue_calls(
        [CallToQueue(alice.id, default.id, calls.NewCall("15551234567"), SETTINGS, T0)]
    )
    with pytest.raises(errors.NotFound):
        store.call(bob.id, call_id)
    with pytest.raises(errors.NotFound):
        store.campaign(bob.id, default.id)
    assert store.calls(bob.id) == []
    assert store.calls(bob.id, campaign_id=default.id) == []


def test_call_pages(store: Store) -> None:
    alice = add_sender(store)
    default = store.default_campaign(alice.id, T0)
    ids = store.queue_calls(
        [
            CallToQueue(alice.id, default.id, calls.NewCall(f"1555123{i:04d}"), SETTINGS, T0)
            for i in range(25)
        ]
    )
    first = store.calls(alice.id, limit=10)
    second = store.calls(alice.id, after_id=first[-1].id, limit=10)
    third = store.calls(alice.id, after_id=second[-1].id, limit=10)
    assert [c.id for c in [*first, *second, *third]] == ids
    assert store.calls(alice.id, state=calls.CallState.COMPLETED) == []


def test_idempotency_keys(store: Store) -> None:
    alice = add_sender(store)
    hold = timedelta(minutes=15)
    claim = dict(sender_id=alice.id, key="k", endpoint="POST /x", request_hash="h", hold=hold)
    assert store.reserve_idempotency_key(**claim, now=T0) is None
    held = store.reserve_idempotency_key(**claim, now=T0)
    assert held is not None and held.resource_id is None  # still running
    default = store.default_campaign(alice.id, T0)
    [call_id] = store.queue_calls(
        [CallToQueue(alice.id, default.id, calls.NewCall("15551234567"), SETTINGS, T0, "k")]
    )
    done = store.reserve_idempotency_key(**claim, now=T0)
    assert done is not None and done.resource_id == call_id
    # A released claim can be taken again; a dead one is taken over after its hold.
    assert store.reserve_idempotency_key(**{**claim, "key": "k2"}, now=T0) is None
    store.release_idempotency_key(sender_id=alice.id, key="k2")
    assert store.reserve_idempotency_key(**{**claim, "key": "k2"}, now=T0) is None
    assert store.reserve_idempotency_key(**{**claim, "key": "k2"}, now=T0 + hold * 2) is None
    # Keys are per sender.
    bob = add_sender(store, "bob")
    assert store.reserve_idempotency_key(**{**claim, "sender_id": bob.id}, now=T0) is None
    assert store.expire_idempotency_keys(T0 + timedelta(days=2)) == 3


def test_ping(store: Store) -> None:
    store.ping()


def test_unavailable_database_is_reported() -> None:
    broken = Store.open("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(errors.Unavailable):
        broken.ping()


def test_an_upload_taken_for_dead_cannot_finish(store: Store) -> None:
    """A stalled upload that housekeeping discarded must not answer "queued" later."""
    alice = add_sender(store)
    campaign = store.start_campaign_upload(
        sender_id=alice.id, name="slow", settings=SETTINGS, now=T0
    )
    batch = [calls.NewCall("15551234567", line=1)]
    store.add_campaign_batch(
        sender_id=alice.id, campaign=campaign, new_calls=batch, rejections=[], now=T0
    )
    assert store.discard_unfinished_uploads(T0 + timedelta(minutes=11)) == 1
    with pytest.raises(errors.Unavailable, match="send it again"):
        store.add_campaign_batch(
            sender_id=alice.id, campaign=campaign, new_calls=batch, rejections=[], now=T0
        )
    with pytest.raises(errors.Unavailable, match="send it again"):
        store.finish_campaign_upload(campaign.id, T0)
    assert store.calls(alice.id) == []


def test_call_ids_are_never_reused(store: Store) -> None:
    alice = add_sender(store)
    campaign = store.start_campaign_upload(sender_id=alice.id, name="a", settings=SETTINGS, now=T0)
    [first] = store.add_campaign_batch(
        sender_id=alice.id,
        campaign=campaign,
        new_calls=[calls.NewCall("15551234567", line=1)],
        rejections=[],
        now=T0,
    )
    store.discard_campaign_upload(campaign.id)
    again = store.start_campaign_upload(sender_id=alice.id, name="a", settings=SETTINGS, now=T0)
    assert again.id != campaign.id
    [second] = store.add_campaign_batch(
        sender_id=alice.id,
        campaign=again,
        new_calls=[calls.NewCall("15551234567", line=1)],
        rejections=[],
        now=T0,
    )
    assert second > first
    default = store.default_campaign(alice.id, T0)
    [single] = store.queue_calls(
        [CallToQueue(alice.id, default.id, calls.NewCall("15551234567"), SETTINGS, T0)]
    )
    assert single > second


def test_database_errors_do_not_leak_their_text(tmp_path: Path) -> None:
    broken = Store.open("postgresql://secretuser@127.0.0.1:1/secretdb")
    with pytest.raises(errors.Unavailable) as caught:
        broken.ping()
    assert "secret" not in str(caught.value)
