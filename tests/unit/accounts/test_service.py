"""Accounts: the operations behind `vxdial sender ...` and `vxdial admin set-pin`."""

from __future__ import annotations

from collections.abc import Iterator

import argon2
import pytest

from tests.conftest import T0
from vxdial.accounts import Accounts, PinHasher
from vxdial.domain import campaigns, errors
from vxdial.domain.clock import FakeClock
from vxdial.store import Store


@pytest.fixture
def accounts(sqlite_url: str) -> Iterator[Accounts]:
    store = Store.open(sqlite_url)
    hasher = PinHasher(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield Accounts(store, FakeClock(T0), hasher)
    store.close()


def test_add_sender_generates_a_pin(accounts: Accounts) -> None:
    created = accounts.add_sender("alice")
    assert created.pin.isdigit() and len(created.pin) == 8
    assert created.sender.enabled and created.sender.role is campaigns.Role.SENDER
    assert len(created.sender.result_secret) == 64


@pytest.mark.parametrize(
    ("login", "pin", "lines", "field"),
    [
        ("", "1234", None, "login"),
        ("a" * 129, "1234", None, "login"),
        ("has space", "1234", None, "login"),
        ("admin", "1234", None, "login"),
        ("bob", "123", None, "pin"),
        ("bob", "1" * 17, None, "pin"),
        ("bob", "12 34", None, "pin"),
        ("bob", "1234", 0, "lines"),
    ],
)
def test_bad_accounts_are_refused(
    accounts: Accounts, login: str, pin: str, lines: int | None, field: str
) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        accounts.add_sender(login, pin, lines)
    assert caught.value.field == field
    assert pin not in str(caught.value) or field != "pin"


def test_disable_enable_lines_and_pins(accounts: Accounts) -> None:
    accounts.add_sender("alice", "1234", lines=5)
    assert accounts.set_enabled("alice", False).enabled is False
    assert accounts.set_enabled("alice", True).enabled is True
    assert accounts.set_lines("alice", 7).lines == 7
    new_pin = accounts.set_pin("alice")
    assert new_pin.isdigit()
    assert accounts.set_pin("alice", "5555") == "5555"
    with pytest.raises(errors.NotFound):
        accounts.set_enabled("nobody", False)


def test_admin_is_created_once(accounts: Accounts) -> None:
    first = accounts.ensure_admin()
    assert first is not None
    assert accounts.ensure_admin() is None
    assert accounts.set_admin_pin("9999") == "9999"
    [admin] = [s for s in accounts.list() if s.login == "admin"]
    assert admin.role is campaigns.Role.ADMIN
    with pytest.raises(errors.InvalidInput):
        accounts.set_enabled("admin", False)


def test_rotate_secret(accounts: Accounts) -> None:
    created = accounts.add_sender("alice")
    rotated = accounts.rotate_secret("alice")
    assert rotated.result_secret != created.sender.result_secret
