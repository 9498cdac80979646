"""Checking login + PIN on every request, fast, and throttling guessing.

A successful argon2 check is remembered for ``pin_cache_s`` as an HMAC of the PIN
under a key that lives only in this process's memory, next to the argon2 hash it was
checked against. A later request with the same login pays one HMAC and one
constant-time compare. Because the sender row (and its hash) is read on every
request, a PIN changed anywhere (CLI, another process) no longer matches the
remembered hash and the entry is ignored.

Failed logins are counted in a sliding window per login from one client address and
per address; past either limit, further attempts from that address are refused with
``Throttled`` (a clear answer with a retry time, never a hang) until the oldest failure
leaves the window. argon2 checks still running count too, so a burst of concurrent
guesses is cut at the limit. An IPv6 client is counted by its /64, the block one
subscriber is given (RFC 6177), so that the addresses of one network do not each get a
fresh limit.

A login's failures from every address are counted too (a limit ten times higher), but
past it the login is not locked: a lock would let guessers at ten addresses keep the
sender's own servers out (issue 12). Instead, an address still under its own limits
has its PIN checked, one argon2 check at a time for that login: the hash's cost is the
brake on guessing spread over many addresses, and the right PIN still gets in.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import anyio.to_thread

from vxdial.accounts.pins import LOGIN_MAX, PIN_MAX, PinHasher
from vxdial.config import AuthSettings
from vxdial.domain import campaigns, errors
from vxdial.domain.clock import Clock
from vxdial.domain.network import address_key
from vxdial.store import Credentials, Store

_MAX_TRACKED = 100_000  # bound on remembered logins/addresses, so memory stays bounded
ARGON2_CONCURRENCY = 2


@dataclass(frozen=True, slots=True)
class _Remembered:
    pin_hash: str
    pin_mac: bytes
    until: datetime


class LoginThrottle:
    """Sliding-window counts of failed logins per key, plus checks still running.

    A check still running counts against the limit, so a burst of concurrent guesses
    is cut at the limit instead of all being verified before the first one fails.
    """

    def __init__(self, clock: Clock, limit: int, window_s: float) -> None:
        self._clock = clock
        self._limit = limit
        self._window = timedelta(seconds=window_s)
        self._failures: collections.OrderedDict[str, collections.deque[datetime]] = (
            collections.OrderedDict()
        )
        self._running: collections.Counter[str] = collections.Counter()

    def retry_after_s(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None if it may now."""
        failures = self._failures.get(key)
        count = self._running[key]
        if failures is not None:
            now = self._clock.now()
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            if not failures:
                del self._failures[key]
                failures = None
            else:
                count += len(failures)
        if count < self._limit:
            return None
        if failures is None or len(failures) < self._limit:
            return 1  # checks still running fill the limit: they end within a second
        wait = failures[0] + self._window - self._clock.now()
        return max(1, int(wait.total_seconds() + 0.999))

    def begin(self, key: str) -> None:
        """A check for ``key`` starts."""
        self._running[key] += 1

    def end(self, key: str, *, failed: bool) -> None:
        """The check started by ``begin`` ended."""
        self._running[key] -= 1
        if self._running[key] <= 0:
            del self._running[key]
        if failed:
            self.fail(key)

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
        # Guessing is limited per login from one address and per address; a login's
        # total from every address has a ceiling ten times higher, past which its PINs
        # are checked one at a time (see the module's docstring).
        self._by_login_and_address = LoginThrottle(
            clock, settings.max_failures_per_login, settings.failure_window_s
        )
        self._by_login = LoginThrottle(
            clock, settings.max_failures_per_login * 10, settings.failure_window_s
        )
        self._by_address = LoginThrottle(
            clock, settings.max_failures_per_address, settings.failure_window_s
        )
        self._in_flight: dict[tuple[str, str, bytes], anyio.Event] = {}
        self._reads: dict[str, asyncio.Future[Credentials | None]] = {}
        # argon2 takes 64 MiB per check: a bound on simultaneous checks bounds memory,
        # whatever a flood of logins with different PINs does.
        self._argon2_slots = anyio.Semaphore(ARGON2_CONCURRENCY)
        # Logins over their ceiling: one argon2 check at a time each.
        self._one_at_a_time: dict[str, anyio.Lock] = {}
        self.failures = 0  # read by the metrics

    async def authenticate(
        self, login: str, pin: str, address: str | None, *, role: campaigns.Role | None = None
    ) -> campaigns.Sender:
        """The account for ``login`` if ``pin`` is its PIN (and, if given, it has ``role``)."""
        keys = self._throttle_keys(login, address)
        self._check_throttles(keys)
        if (
            not login
            or not pin
            or len(login) > LOGIN_MAX
            or len(pin) > PIN_MAX
            or not login.isprintable()
            or not pin.isprintable()
        ):
            self._failed(keys)
            raise errors.NotAuthorized()
        found = await self._credentials(login)
        if found is None:
            await self._verify_counted(login, keys, self._hasher.verify_decoy_ok, pin)
            raise errors.NotAuthorized()
        if not await self._pin_matches(login, pin, found.pin_hash, keys):
            raise errors.NotAuthorized()
        self._by_login_and_address.reset(keys[0][1])
        sender = found.sender
        if not sender.enabled:
            raise errors.Forbidden("this account is disabled")
        if role is not None and sender.role is not role:
            raise errors.Forbidden(f"the {sender.role.value} account cannot do this")
        return sender

    def _throttle_keys(self, login: str, address: str | None) -> list[tuple[LoginThrottle, str]]:
        """Where a failure of ``login`` from ``address`` counts; the login's own total
        comes last (it slows checks down; the others refuse)."""
        counted_as = address_key(address)
        keys = [(self._by_login_and_address, f"{login}\x00{counted_as}")]
        if counted_as:
            keys.append((self._by_address, counted_as))
        keys.append((self._by_login, login))
        return keys

    def _check_throttles(self, keys: list[tuple[LoginThrottle, str]]) -> None:
        for throttle, key in keys:
            if throttle is self._by_login:
                continue  # not a refusal: see _one_check_at_a_time
            wait = throttle.retry_after_s(key)
            if wait is not None:
                raise errors.Throttled(wait)

    @contextlib.asynccontextmanager
    async def _one_check_at_a_time(self, login: str) -> AsyncIterator[None]:
        """While ``login`` is over its failures from every address, its PIN checks run
        one at a time (otherwise, at once up to the process's argon2 slots)."""
        if self._by_login.retry_after_s(login) is None:
            yield
            return
        lock = self._one_at_a_time.get(login)
        if lock is None:
            lock = self._one_at_a_time[login] = anyio.Lock()
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._one_at_a_time.pop(login, None)

    def _failed(self, keys: list[tuple[LoginThrottle, str]]) -> None:
        self.failures += 1
        for throttle, key in keys:
            throttle.fail(key)

    async def _verify_counted(
        self,
        login: str,
        keys: list[tuple[LoginThrottle, str]],
        verify: Callable[..., bool],
        *args: str,
    ) -> bool:
        """Run one argon2 check, counted as running against every throttle key."""
        async with self._one_check_at_a_time(login):
            return await self._verify_now(keys, verify, *args)

    async def _verify_now(
        self, keys: list[tuple[LoginThrottle, str]], verify: Callable[..., bool], *args: str
    ) -> bool:
        self._check_throttles(keys)
        for throttle, key in keys:
            throttle.begin(key)
        ok = False
        try:
            async with self._argon2_slots:
                ok = await anyio.to_thread.run_sync(verify, *args)
        finally:
            for throttle, key in keys:
                throttle.end(key, failed=not ok)
            if not ok:
                self.failures += 1
        return ok

    async def _credentials(self, login: str) -> Credentials | None:
        # Requests for one login that arrive while its row is being read share that
        # read: none sees a row older than the moment it arrived minus one query.
        flight = self._reads.get(login)
        if flight is None:
            flight = asyncio.ensure_future(self._store.run(self._store.credentials, login))
            self._reads[login] = flight
            flight.add_done_callback(lambda _: self._reads.pop(login, None))
        return await asyncio.shield(flight)

    async def _pin_matches(
        self, login: str, pin: str, pin_hash: str, keys: list[tuple[LoginThrottle, str]]
    ) -> bool:
        mac = hmac.new(self._key, pin.encode(), hashlib.sha256).digest()
        if self._is_remembered(login, pin_hash, mac):
            return True
        # Requests that arrive together with the same login and PIN share one argon2
        # check instead of each paying 64 MiB and ~50 ms for it.
        flight_key = (login, pin_hash, mac)
        flight = self._in_flight.get(flight_key)
        if flight is not None:
            await flight.wait()
            if self._is_remembered(login, pin_hash, mac):
                return True
            self._failed(keys)
            return False
        flight = self._in_flight[flight_key] = anyio.Event()
        try:
            ok = await self._verify_counted(login, keys, self._hasher.verify, pin_hash, pin)
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
