"""Checking login + PIN on every request, fast, and throttling guessing.

A successful argon2 check is remembered for ``pin_cache_s`` as an HMAC of the PIN
under a key that lives only in this process's memory, next to the argon2 hash it was
checked against. A later request with the same login pays one HMAC and one
constant-time compare. Because the sender row (and its hash) is read on every
request, a PIN changed anywhere (CLI, another process) no longer matches the
remembered hash and the entry is ignored; ``forget()`` drops it at once in-process.

Failed logins are counted per login and per client address in a sliding window;
past the limit, further attempts are refused with ``Throttled`` (a clear answer
with a retry time, never a hang) until the oldest failure leaves the window.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import anyio.to_thread

from vxdial.accounts.pins import LOGIN_MAX, PIN_MAX, PinHasher
from vxdial.config import AuthSettings
from vxdial.domain import campaigns, errors
from vxdial.domain.clock import Clock
from vxdial.store import Credentials, Store

_MAX_TRACKED = 100_000
ARGON2_CONCURRENCY = 2  # bound on remembered logins/addresses, so memory stays bounded


@dataclass(frozen=True, slots=True)
class _Remembered:
    pin_hash: str
    pin_mac: bytes
    until: datetime


class LoginThrottle:
    """Sliding-window counts of failed logins per key (a login, or an address)."""

    def __init__(self, clock: Clock, limit: int, window_s: float) -> None:
        self._clock = clock
        self._limit = limit
        self._window = timedelta(seconds=window_s)
        self._failures: collections.OrderedDict[str, collections.deque[datetime]] = (
            collections.OrderedDict()
        )

    def retry_after_s(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None if it may now."""
        failures = self._failures.get(key)
        if failures is None:
            return None
        now = self._clock.now()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        if len(failures) < self._limit:
            return None
        wait = failures[0] + self._window - now
        return max(1, int(wait.total_seconds() + 0.999))

    def fail(self, key: str) -> None:
        failures = self._failures.setdefault(key, collections.deque(maxlen=self._limit))
        failures.append(self._clock.now())
        self._failures.move_to_end(key)
        while len(self._failures) > _MAX_TRACKED:
            self._failures.popitem(last=False)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)


class Authenticator:
    """Turns (login, PIN, client address) into an enabled account, or raises.

    Raises ``NotAuthorized`` (the same for an unknown login and a wrong PIN),
    ``Throttled`` after too many failures, and ``NotAuthorized("account is
    disabled")`` only once the PIN has been shown correct.
    """

    def __init__(
        self, store: Store, clock: Clock, settings: AuthSettings, hasher: PinHasher
    ) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._cache_for = timedelta(seconds=settings.pin_cache_s)
        self._key = secrets.token_bytes(32)
        self._remembered: collections.OrderedDict[str, _Remembered] = collections.OrderedDict()
        self._by_login = LoginThrottle(
            clock, settings.max_failures_per_login, settings.failure_window_s
        )
        self._by_address = LoginThrottle(
            clock, settings.max_failures_per_address, settings.failure_window_s
        )
        self._in_flight: dict[tuple[str, str, bytes], anyio.Event] = {}
        self._reads: dict[str, asyncio.Future[Credentials | None]] = {}
        # argon2 takes 64 MiB per check: a bound on simultaneous checks bounds memory,
        # whatever a flood of logins with different PINs does.
        self._argon2_slots = anyio.Semaphore(ARGON2_CONCURRENCY)
        self.failures = 0  # read by the metrics

    async def authenticate(
        self, login: str, pin: str, address: str | None, *, role: campaigns.Role | None = None
    ) -> campaigns.Sender:
        """The account for ``login`` if ``pin`` is its PIN (and, if given, it has ``role``)."""
        address_key = f"addr:{address}" if address else None
        login_key = f"login:{login}"
        for throttle, key in ((self._by_login, login_key), (self._by_address, address_key)):
            if key is not None:
                wait = throttle.retry_after_s(key)
                if wait is not None:
                    raise errors.Throttled(wait)
        if not login or not pin or len(login) > LOGIN_MAX or len(pin) > PIN_MAX:
            self._failed(login_key, address_key)
            raise errors.NotAuthorized()
        found = await self._credentials(login)
        if found is None:
            async with self._argon2_slots:
                await anyio.to_thread.run_sync(self._hasher.verify_decoy, pin)
            self._failed(login_key, address_key)
            raise errors.NotAuthorized()
        if not await self._pin_matches(login, pin, found.pin_hash):
            self._failed(login_key, address_key)
            raise errors.NotAuthorized()
        self._by_login.reset(login_key)
        sender = found.sender
        if not sender.enabled:
            raise errors.Forbidden("this account is disabled")
        if role is not None and sender.role is not role:
            raise errors.Forbidden(f"the {sender.role.value} account cannot do this")
        return sender

    async def _credentials(self, login: str) -> Credentials | None:
        # Requests for one login that arrive while its row is being read share that
        # read: none sees a row older than the moment it arrived minus one query.
        flight = self._reads.get(login)
        if flight is None:
            flight = asyncio.ensure_future(self._store.run(self._store.credentials, login))
            self._reads[login] = flight
            flight.add_done_callback(lambda _: self._reads.pop(login, None))
        return await asyncio.shield(flight)

    def forget(self, login: str) -> None:
        """Drop what is remembered for ``login`` (its PIN changed, or it was disabled)."""
        self._remembered.pop(login, None)

    async def _pin_matches(self, login: str, pin: str, pin_hash: str) -> bool:
        mac = hmac.new(self._key, pin.encode(), hashlib.sha256).digest()
        if self._is_remembered(login, pin_hash, mac):
            return True
        # Requests that arrive together with the same login and PIN share one argon2
        # check instead of each paying 64 MiB and ~50 ms for it.
        flight_key = (login, pin_hash, mac)
        flight = self._in_flight.get(flight_key)
        if flight is not None:
            await flight.wait()
            return self._is_remembered(login, pin_hash, mac)
        flight = self._in_flight[flight_key] = anyio.Event()
        try:
            async with self._argon2_slots:
                ok = await anyio.to_thread.run_sync(self._hasher.verify, pin_hash, pin)
            if ok:
                until = self._clock.now() + self._cache_for
                self._remembered[login] = _Remembered(pin_hash, mac, until)
                self._remembered.move_to_end(login)
                while len(self._remembered) > _MAX_TRACKED:
                    self._remembered.popitem(last=False)
            return ok
        finally:
            del self._in_flight[flight_key]
            flight.set()

    def _is_remembered(self, login: str, pin_hash: str, mac: bytes) -> bool:
        remembered = self._remembered.get(login)
        return (
            remembered is not None
            and remembered.until > self._clock.now()
            and remembered.pin_hash == pin_hash
            and hmac.compare_digest(remembered.pin_mac, mac)
        )

    def _failed(self, login_key: str, address_key: str | None) -> None:
        self.failures += 1
        self._by_login.fail(login_key)
        if address_key is not None:
            self._by_address.fail(address_key)
