"""Account operations shared by ``vxdial sender|admin``, the API and the web interface."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from vxdial.accounts.pins import PinHasher, generate_pin, validate_login, validate_pin
from vxdial.domain import campaigns, errors
from vxdial.domain.clock import Clock
from vxdial.store import Store

SECRET_BYTES = 32


def new_result_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


@dataclass(frozen=True, slots=True)
class NewAccount:
    sender: campaigns.Sender
    pin: str  # shown once, then only its hash exists


class Accounts:
    """Create and change accounts. Synchronous: call through ``Store.run`` from async code."""

    def __init__(self, store: Store, clock: Clock, hasher: PinHasher) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher

    def add_sender(
        self, login: str, pin: str | None = None, lines: int | None = None
    ) -> NewAccount:
        validate_login(login)
        if login == campaigns.ADMIN_LOGIN:
            raise errors.InvalidInput("login", '"admin" is the administrator\'s login')
        pin = validate_pin(pin) if pin is not None else generate_pin()
        _check_lines(lines)
        sender = self._store.add_sender(
            login=login,
            role=campaigns.Role.SENDER,
            pin_hash=self._hasher.hash(pin),
            lines=lines,
            result_secret=new_result_secret(),
            now=self._clock.now(),
        )
        return NewAccount(sender, pin)

    def list(self) -> list[campaigns.Sender]:
        return self._store.senders()

    def set_enabled(self, login: str, enabled: bool) -> campaigns.Sender:
        self._not_admin(login)
        return self._store.update_sender(login, enabled=enabled, now=self._clock.now())

    def set_lines(self, login: str, lines: int | None) -> campaigns.Sender:
        self._not_admin(login)
        _check_lines(lines)
        return self._store.update_sender(login, lines=lines, now=self._clock.now())

    def set_pin(self, login: str, pin: str | None = None) -> str:
        """Give ``login`` a new PIN (generated if None) and end its web sessions (every
        path that resets a PIN: the CLI, the web, the API); returns the PIN."""
        pin = validate_pin(pin) if pin is not None else generate_pin()
        self._store.set_pin_hash(login, self._hasher.hash(pin), self._clock.now())
        return pin

    def rotate_secret(self, login: str) -> campaigns.Sender:
        return self._store.update_sender(
            login, result_secret=new_result_secret(), now=self._clock.now()
        )

    def ensure_admin(self) -> str | None:
        """Create the ``admin`` account if missing; returns its new PIN, or None if it existed."""
        if self._store.credentials(campaigns.ADMIN_LOGIN) is not None:
            return None
        pin = generate_pin()
        try:
            self._store.add_sender(
                login=campaigns.ADMIN_LOGIN,
                role=campaigns.Role.ADMIN,
                pin_hash=self._hasher.hash(pin),
                lines=None,
                result_secret=new_result_secret(),
                now=self._clock.now(),
            )
        except errors.Conflict:
            return None  # another process created it first
        return pin

    def set_admin_pin(self, pin: str | None = None) -> str:
        """Set the administrator's PIN (creating the account if needed); returns it."""
        if self._store.credentials(campaigns.ADMIN_LOGIN) is None:
            created = self.ensure_admin()
            if created is not None and pin is None:
                return created
        return self.set_pin(campaigns.ADMIN_LOGIN, pin)

    def _not_admin(self, login: str) -> None:
        if login == campaigns.ADMIN_LOGIN:
            raise errors.InvalidInput("login", "the administrator account cannot be changed so")


def _check_lines(lines: int | None) -> None:
    if lines is not None and not 1 <= lines <= 100_000:
        raise errors.InvalidInput("lines", "must be from 1 to 100000")
