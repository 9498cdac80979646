"""Authenticator: argon2 paid once per sender, PIN changes noticed, failures throttled."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest

from tests.conftest import T0
from vxdial.accounts import Accounts, Authenticator, PinHasher
from vxdial.config import AuthSettings
from vxdial.domain import campaigns, errors
from vxdial.domain.clock import FakeClock
from vxdial.domain.network import address_key
from vxdial.store import Store


class CountingHasher(PinHasher):
    """A fast argon2 (tests only) that counts verifications."""

    def __init__(self) -> None:
        super().__init__(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        self.verifications = 0

    def verify(self, pin_hash: str, pin: str) -> bool:
        self.verifications += 1
        return super().verify(pin_hash, pin)


class ConcurrencyHasher(CountingHasher):
    """Records how many verifications ran at once (they run on worker threads)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0

    def verify(self, pin_hash: str, pin: str) -> bool:
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            time.sleep(0.02)  # long enough for checks allowed to overlap to do so
            return super().verify(pin_hash, pin)
        finally:
            with self._lock:
                self._running -= 1


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = Store.open(sqlite_url)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def accounts(store: Store, clock: FakeClock, hasher: CountingHasher) -> Accounts:
    accounts = Accounts(store, clock, hasher)
    accounts.add_sender("alice", "1234")
    return accounts


def authenticator(
    store: Store, clock: FakeClock, hasher: PinHasher, **settings: float
) -> Authenticator:
    return Authenticator(store, clock, AuthSettings(**settings), hasher)  # type: ignore[arg-type]


async def test_argon2_once_per_sender(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    hasher.verifications = 0
    for _ in range(50):
        sender = await auth.authenticate("alice", "1234", "10.0.0.1")
    assert sender.login == "alice"
    assert hasher.verifications == 1


async def test_concurrent_first_logins_share_one_check(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    hasher.verifications = 0
    results = await asyncio.gather(
        *(auth.authenticate("alice", "1234", "10.0.0.1") for _ in range(20))
    )
    assert {s.login for s in results} == {"alice"}
    assert hasher.verifications == 1


async def test_remembered_check_expires(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher, pin_cache_s=60)
    await auth.authenticate("alice", "1234", None)
    clock.advance(61)
    hasher.verifications = 0
    await auth.authenticate("alice", "1234", None)
    assert hasher.verifications == 1


async def test_pin_change_elsewhere_is_noticed(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    await auth.authenticate("alice", "1234", None)
    # Another process (the CLI) changes the PIN: only the stored hash tells.
    Accounts(store, clock, hasher).set_pin("alice", "9876")
    with pytest.raises(errors.NotAuthorized):
        await auth.authenticate("alice", "1234", None)
    assert (await auth.authenticate("alice", "9876", None)).login == "alice"


async def test_wrong_login_and_wrong_pin_are_the_same_error(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    with pytest.raises(errors.NotAuthorized) as wrong_pin:
        await auth.authenticate("alice", "0000", None)
    with pytest.raises(errors.NotAuthorized) as wrong_login:
        await auth.authenticate("mallory", "1234", None)
    assert type(wrong_pin.value) is type(wrong_login.value) is errors.NotAuthorized
    assert str(wrong_pin.value) == str(wrong_login.value)
    assert "1234" not in str(wrong_login.value) and "0000" not in str(wrong_pin.value)


async def test_a_cached_login_still_rejects_a_wrong_pin(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    await auth.authenticate("alice", "1234", None)
    with pytest.raises(errors.NotAuthorized):
        await auth.authenticate("alice", "12345", None)


async def test_failures_per_login_are_throttled(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher, max_failures_per_login=3, failure_window_s=60)
    for _ in range(3):
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate("alice", "0000", "10.0.0.1")
    with pytest.raises(errors.Throttled) as throttled:
        await auth.authenticate("alice", "1234", "10.0.0.1")  # even the right PIN waits
    assert 1 <= throttled.value.retry_after_s <= 60
    assert "try again in" in str(throttled.value)
    # A guesser elsewhere does not lock the sender out of its own address.
    assert (await auth.authenticate("alice", "1234", "10.0.0.2")).login == "alice"
    clock.advance(61)
    assert (await auth.authenticate("alice", "1234", "10.0.0.1")).login == "alice"


async def test_over_its_ceiling_a_login_is_checked_one_at_a_time_not_locked(
    store: Store, clock: FakeClock, accounts: Accounts
) -> None:
    hasher = ConcurrencyHasher()
    auth = authenticator(
        store, clock, hasher, max_failures_per_login=2, max_failures_per_address=1000
    )
    for i in range(20):  # 10 x the per-address limit, from 20 addresses: the ceiling
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate("alice", "0000", f"10.0.1.{i}")
    # Guesses from fresh addresses are still checked (and fail) ...
    hasher.most_at_once = 0
    outcomes = await asyncio.gather(
        *(auth.authenticate("alice", f"{i:04d}8", f"10.0.3.{i}") for i in range(6)),
        return_exceptions=True,
    )
    assert all(type(o) is errors.NotAuthorized for o in outcomes), outcomes
    assert hasher.most_at_once == 1  # ... one at a time: argon2's cost is the brake
    # ... and the right PIN from an address without failures gets in.
    assert (await auth.authenticate("alice", "1234", "10.0.2.1")).login == "alice"
    # An address over its own limit stays refused, even with the right PIN.
    for _ in range(2):
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate("alice", "0000", "10.0.4.1")
    with pytest.raises(errors.Throttled):
        await auth.authenticate("alice", "1234", "10.0.4.1")


async def test_ipv6_addresses_are_counted_by_their_64(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher, max_failures_per_login=3, failure_window_s=60)
    for i in range(3):  # three addresses of one /64
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate("alice", "0000", f"2001:db8:1:2::{i + 1:x}")
    with pytest.raises(errors.Throttled):
        await auth.authenticate("alice", "1234", "2001:db8:1:2:ffff:ffff:ffff:ffff")
    # The next /64 is another subscriber.
    assert (await auth.authenticate("alice", "1234", "2001:db8:1:3::1")).login == "alice"


def test_address_keys() -> None:
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("testclient") == "testclient"
    assert address_key(None) is None


async def test_a_burst_of_guesses_is_cut_at_the_limit(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher, max_failures_per_login=5)
    hasher.verifications = 0
    outcomes = await asyncio.gather(
        *(auth.authenticate("alice", f"{i:04d}9", "10.0.0.1") for i in range(50)),
        return_exceptions=True,
    )
    assert all(isinstance(o, errors.NotAuthorized) for o in outcomes)
    assert sum(isinstance(o, errors.Throttled) for o in outcomes) >= 45
    assert hasher.verifications <= 5


async def test_failures_per_address_are_throttled(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher, max_failures_per_address=4, failure_window_s=60)
    for i in range(4):
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate(f"guess{i}", "0000", "192.0.2.7")
    with pytest.raises(errors.Throttled):
        await auth.authenticate("alice", "1234", "192.0.2.7")
    assert (await auth.authenticate("alice", "1234", "192.0.2.8")).login == "alice"


async def test_success_clears_the_login_count(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher, max_failures_per_login=3)
    for _ in range(2):
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate("alice", "0000", None)
    await auth.authenticate("alice", "1234", None)
    for _ in range(2):
        with pytest.raises(errors.NotAuthorized):
            await auth.authenticate("alice", "0000", None)
    assert (await auth.authenticate("alice", "1234", None)).login == "alice"


async def test_disabled_account_and_roles(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    admin_pin = accounts.set_admin_pin("4321")
    with pytest.raises(errors.Forbidden):
        await auth.authenticate("admin", admin_pin, None, role=campaigns.Role.SENDER)
    assert (await auth.authenticate("admin", admin_pin, None)).role is campaigns.Role.ADMIN
    accounts.set_enabled("alice", False)
    with pytest.raises(errors.Forbidden) as disabled:
        await auth.authenticate("alice", "1234", None)
    assert "disabled" in str(disabled.value)
    with pytest.raises(errors.NotAuthorized) as wrong:
        await auth.authenticate("alice", "0000", None)
    assert "disabled" not in str(wrong.value)  # the state is told only to the right PIN


async def test_over_long_credentials_are_refused_without_a_lookup(
    store: Store, clock: FakeClock, hasher: CountingHasher, accounts: Accounts
) -> None:
    auth = authenticator(store, clock, hasher)
    hasher.verifications = 0
    with pytest.raises(errors.NotAuthorized):
        await auth.authenticate("alice", "1" * 17, None)
    with pytest.raises(errors.NotAuthorized):
        await auth.authenticate("a" * 129, "1234", None)
    assert hasher.verifications == 0


def test_pins_are_stored_only_as_argon2_hashes(
    store: Store, accounts: Accounts, tmp_path: Path
) -> None:
    found = store.credentials("alice")
    assert found is not None
    assert found.pin_hash.startswith("$argon2id$")
    assert "1234" not in found.pin_hash
