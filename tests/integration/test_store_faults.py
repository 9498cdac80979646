"""The store when its database fails (issue 12, item 18): which errors mean "try again
later", writes that wait for the database, and heartbeats that keep only the calls a
worker holds. The whole-service behaviour is in tests/faults/."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import T0
from tests.integration.test_dialing_store import SETTINGS, claim, setup
from vxdial.domain import calls, campaigns, errors
from vxdial.store import CallToQueue, Store
from vxdial.store import store as store_module
from vxdial.store.queries.attempts import AttemptEnd


def test_a_full_sqlite_database_is_unavailable_for_now_and_says_why(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    store.migrate()
    setup(store, 1)

    @sa.event.listens_for(store.engine, "connect")
    def _small(dbapi_connection: object, _record: object) -> None:
        # A database that may not grow: SQLite's own "database or disk is full".
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA max_page_count = 1")
        cursor.close()

    store.engine.dispose()
    with pytest.raises(errors.DatabaseUnavailable) as caught:
        store.add_sender(
            login="bob",
            role=campaigns.Role.SENDER,
            pin_hash="h" * 8000,  # more than the free room of any page
            lines=None,
            result_secret="s",
            now=T0,
        )
    assert str(caught.value) == "the database has no space left on its disk; try again later"
    store.close()


def test_an_unreachable_postgresql_is_unavailable_for_now() -> None:
    # Nothing listens on port 1 of loopback: connection refused.
    store = Store.open("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(errors.DatabaseUnavailable) as caught:
        store.ping()
    assert str(caught.value) == "the database is unavailable; try again"
    store.close()


def test_a_refused_statement_is_not_retried(store: Store) -> None:
    with pytest.raises(errors.Unavailable) as caught, store._write() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    # On PostgreSQL a programming error; on SQLite "no such table": neither goes away
    # by waiting, so neither is DatabaseUnavailable.
    assert not isinstance(caught.value, errors.DatabaseUnavailable)


async def test_a_write_that_must_not_be_lost_waits_for_the_database(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "UNTIL_STORED_FIRST_PAUSE_S", 0.001)
    tries: list[int] = []

    def write(value: int) -> int:
        tries.append(value)
        if len(tries) < 4:
            raise errors.DatabaseUnavailable("the database is unavailable; try again")
        return value * 2

    assert await store.run_until_stored(write, 21) == 42
    assert tries == [21] * 4


async def test_a_write_refused_for_another_reason_is_raised_at_once(store: Store) -> None:
    tries: list[int] = []

    def write() -> None:
        tries.append(1)
        raise errors.Unavailable("the database could not store this request")

    with pytest.raises(errors.Unavailable):
        await asyncio.wait_for(store.run_until_stored(write), timeout=30)
    assert tries == [1]


def test_a_heartbeat_keeps_only_the_calls_its_worker_holds(store: Store) -> None:
    sender = setup(store, 3)
    held, orphan, ended = claim(store, "w1")
    # ``ended`` was written as ended; ``orphan`` was claimed in a transaction whose
    # answer never reached w1 (the connection dropped at its commit).
    store.finish_attempts(
        [
            AttemptEnd(
                ended.call,
                ended.attempt,
                "w1",
                calls.Outcome.BUSY,
                "sim: busy",
                "busy",
                T0,
                calls.CallState.QUEUED,
                T0 + timedelta(seconds=60),
                0,
            )
        ]
    )
    later = T0 + timedelta(seconds=50)
    store.heartbeat(
        worker="w1", now=later, lease_until=later + timedelta(seconds=60), holding={held.call.id}
    )
    # Past the claim's lease (60 s), within the heartbeat's.
    swept_at = T0 + timedelta(seconds=70)
    assert store.sweep(now=swept_at, lease_s=60)["reclaimed"] == 1
    by_id = {c.id: c for c in store.calls(sender.id)}
    assert by_id[held.call.id].state is calls.CallState.DIALING  # still w1's
    assert by_id[orphan.call.id].state is calls.CallState.QUEUED  # given back, for anyone
    assert by_id[orphan.call.id].attempts == 0  # the attempt that never was is not counted


def _finished_calls(store: Store, login: str, count: int) -> None:
    """``count`` calls of a new sender ``login``, ended, their results due."""
    sender = store.add_sender(
        login=login, role=campaigns.Role.SENDER, pin_hash="h", lines=None, result_secret="s", now=T0
    )
    default = store.default_campaign(sender.id, T0)
    store.queue_calls(
        [
            CallToQueue(
                sender.id, default.id, calls.NewCall(f"1555{sender.id}{i:06d}"), SETTINGS, T0
            )
            for i in range(count)
        ]
    )
    claims = claim(store, login)
    store.finish_attempts(
        [
            AttemptEnd(
                c.call,
                c.attempt,
                login,
                calls.Outcome.BUSY,
                "sim: busy",
                "busy",
                T0,
                calls.CallState.FAILED,
                None,
                0,
            )
            for c in claims
        ]
    )


def test_no_sender_gets_more_than_its_share_of_result_posts(store: Store) -> None:
    _finished_calls(store, "alice", 8)  # due first
    _finished_calls(store, "bob", 2)
    alice, bob = (s.id for s in store.senders())
    lease = T0 + timedelta(seconds=120)

    def claim_results(in_flight: dict[int, int], limit: int = 10) -> Counter[int]:
        jobs = store.claim_deliveries(
            worker="w", now=T0, lease_until=lease, limit=limit, in_flight=in_flight, per_sender=3
        )
        return Counter(job.sender_id for job in jobs)

    # Alice's results come first, but she gets three posts; Bob's are claimed beside them.
    assert claim_results({}) == Counter({alice: 3, bob: 2})
    # Alice at her share: none of hers, whatever is due.
    assert claim_results({alice: 3, bob: 2}) == Counter()
    assert claim_results({alice: 2, bob: 2}) == Counter({alice: 1})


def test_a_renewal_keeps_only_the_results_its_worker_is_posting(store: Store) -> None:
    _finished_calls(store, "alice", 2)
    lease = T0 + timedelta(seconds=120)
    posting, orphan = store.claim_deliveries(worker="w", now=T0, lease_until=lease, limit=10)
    # ``orphan``'s claim committed, but its answer never reached w (the connection dropped).
    later = T0 + timedelta(seconds=100)
    store.renew_deliveries(
        worker="w", lease_until=later + timedelta(seconds=120), holding={posting.id}
    )
    after = T0 + timedelta(seconds=150)  # past the claim's lease, within the heartbeat's
    taken = store.claim_deliveries(
        worker="w2", now=after, lease_until=after + timedelta(seconds=120), limit=10
    )
    assert [job.id for job in taken] == [orphan.id]
