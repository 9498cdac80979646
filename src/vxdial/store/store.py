"""``Store``: the named operations the rest of vxdial performs on the database.

Each method is one transaction. Methods are synchronous (SQLAlchemy Core on a
thread); async code calls them through ``await store.run(store.method, ...)``, which
runs them on a bounded thread pool. On SQLite, writers of this process take turns on
a lock before ``BEGIN IMMEDIATE`` instead of polling the file lock, which keeps
write latency flat under concurrency; other processes still wait via busy_timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from types import EllipsisType
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vxdial.domain import calls, campaigns, errors
from vxdial.domain import calls as domain_calls  # the class has a method named calls
from vxdial.domain import campaigns as domain_campaigns
from vxdial.store import engine as engines
from vxdial.store import leases, migrate, signals
from vxdial.store.migrate import Migration
from vxdial.store.queries import attempts as attempt_queries
from vxdial.store.queries import calls as call_queries
from vxdial.store.queries import campaigns as campaign_queries
from vxdial.store.queries import control as control_queries
from vxdial.store.queries import deliveries as delivery_queries
from vxdial.store.queries import idempotency as key_queries
from vxdial.store.queries import search as search_queries
from vxdial.store.queries import senders as sender_queries
from vxdial.store.queries import system as system_queries
from vxdial.store.queries import web as web_queries
from vxdial.store.queries.idempotency import KeyRecord
from vxdial.store.queries.senders import Credentials
from vxdial.store.queries.web import AuditEntry, WebSession

# A loading campaign that stored no batch for this long belongs to a dead process. An
# upload stores a batch every fraction of a second; the margin covers stalls and clock
# skew between hosts sharing one PostgreSQL.
UPLOAD_IDLE_LIMIT = timedelta(minutes=10)

log = logging.getLogger("vxdial.store")

# Pauses between the tries of a write that must not be lost (Store.run_until_stored).
UNTIL_STORED_FIRST_PAUSE_S = 0.1
UNTIL_STORED_MAX_PAUSE_S = 2.0
# A SQLite file's filesystem with less room than this is full: a write may still fit in
# pages SQLite holds, but the next that needs one fails (Store.ping says so).
SQLITE_MIN_FREE_BYTES = 1024 * 1024

P = ParamSpec("P")
T = TypeVar("T")

_DISK_FULL = "the database has no space left on its disk; try again later"
_UPLOAD_LOST = "the upload was interrupted for too long and discarded; send it again"

__all__ = ["AuditEntry", "CallToQueue", "Credentials", "KeyRecord", "Store", "WebSession"]


@dataclass(frozen=True, slots=True)
class CallToQueue:
    """One single call for ``Store.queue_calls``."""

    sender_id: int
    campaign_id: int
    call: calls.NewCall
    settings: calls.CallSettings
    now: datetime
    idempotency_key: str | None = None


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    """Database errors leave the store as ``Unavailable``, their text only in the log
    (it may name hosts and users; clients see a plain reason). An error after which the
    same request may succeed later (the database down or restarting, its disk full) is
    ``DatabaseUnavailable``."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if _is_transient(exc):
            log.info("store.transient_error error=%s", str(exc.orig).splitlines()[0][:200])
        elif _is_unreachable(exc):
            _log_unreachable(exc)
            if _is_disk_full(exc):
                raise errors.DatabaseUnavailable(_DISK_FULL) from exc
            raise errors.DatabaseUnavailable("the database is unavailable; try again") from exc
        else:
            log.error("store.database_error error=%s", str(exc.orig)[:500])
        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            raise errors.Unavailable("the database is unavailable; try again") from exc
        raise errors.Unavailable("the database could not store this request") from exc
    except sa.exc.SQLAlchemyError as exc:
        log.error("store.error error=%s", str(exc)[:500])
        raise errors.Unavailable("the database is unavailable; try again") from exc


# SQLite primary result codes after which the same statement may succeed later: busy,
# locked, out of memory, I/O error, disk full, cannot open (https://sqlite.org/rescode.html).
_SQLITE_LATER = frozenset({5, 6, 7, 10, 13, 14})
_SQLITE_FULL = 13
# PostgreSQL: disk_full (class 53, insufficient resources).
_PG_DISK_FULL = "53100"
_UNREACHABLE_LOG_EVERY_S = 10.0
_unreachable_logged = [0.0, 0]  # when the last one was logged, how many since
_unreachable_lock = threading.Lock()


def _is_unreachable(exc: sa.exc.DBAPIError) -> bool:
    """The database cannot take requests now (rather than refusing this one)."""
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return False
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_LATER
    # PostgreSQL: every OperationalError (connection lost or refused, the server shutting
    # down or starting, out of connections, disk full) and InterfaceError.
    return True


def _is_disk_full(exc: sa.exc.DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == _SQLITE_FULL)
    return getattr(exc.orig, "sqlstate", None) == _PG_DISK_FULL


def _log_unreachable(exc: sa.exc.DBAPIError) -> None:
    """One line every few seconds while the database is down, not one per request."""
    now = time.monotonic()
    with _unreachable_lock:
        last, quiet = _unreachable_logged
        if now - last < _UNREACHABLE_LOG_EVERY_S:
            _unreachable_logged[1] = quiet + 1
            return
        _unreachable_logged[:] = [now, 0]
    log.error(
        "store.database_unavailable error=%s (and %d more like it)",
        " ".join(str(exc.orig).split())[:300],
        quiet,
    )


# SQLSTATEs after which the same transaction, run again, succeeds: deadlock detected,
# serialization failure (PostgreSQL picks a victim; the other transaction went on).
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
_WRITE_TRIES = 4


def _is_transient(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


def retried(method: Callable[P, T]) -> Callable[P, T]:
    """Run a write again when the database chose it as a deadlock's victim."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, _WRITE_TRIES + 1):
            try:
                return method(*args, **kwargs)
            except errors.Unavailable as exc:
                if (
                    attempt == _WRITE_TRIES
                    or exc.__cause__ is None
                    or not _is_transient(exc.__cause__)
                ):
                    raise
                time.sleep(random.uniform(0.001, 0.01) * attempt)
        raise AssertionError("unreachable")

    return wrapper


class Store:
    """The database behind vxdial (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine, *, threads: int = 16) -> None:
        self.engine = engine
        self.is_sqlite = engines.is_sqlite(engine)
        self._write_lock: contextlib.AbstractContextManager[object] = (
            threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        self._limiter = anyio.CapacityLimiter(threads)
        self.signals = signals.Signals()

    @classmethod
    def open(cls, url: str, *, pool_size: int = 10) -> Store:
        return cls(engines.create_engine(url, pool_size=pool_size))

    def close(self) -> None:
        self.engine.dispose()

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method off the event loop."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)

    async def run_until_stored(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a write that must not be lost (a call answered, an attempt's end, what a
        result's post gave): while the database cannot take it (``DatabaseUnavailable``:
        restarting, down, its disk full), try again, as long as it takes; any other error
        is raised. The caller keeps what the write is about (its lease, its line) meanwhile.
        """
        pause_s = UNTIL_STORED_FIRST_PAUSE_S
        while True:
            try:
                return await self.run(fn, *args, **kwargs)
            except errors.DatabaseUnavailable as exc:
                log.warning(
                    "store.write_waiting write=%s error=%s retry_in_s=%g",
                    getattr(fn, "__name__", "?"),
                    exc,
                    pause_s,
                )
            # Real time, not the project's Clock: a database restarts in real seconds
            # whatever speed the simulated world runs at.
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, UNTIL_STORED_MAX_PAUSE_S)

    # -- work announcements (see store.signals) ----------------------------------------

    def on_work(self, listener: signals.Listener) -> Callable[[], None]:
        """Call ``listener(kind)`` after each write that may have made work of that kind
        (in this process, or in another one sharing PostgreSQL while ``relay_work``
        runs), from whatever thread it happened on; returns the unsubscribe function."""
        return self.signals.subscribe(listener)

    async def relay_work(self) -> None:
        """Hand other processes' announcements to this store's listeners until
        cancelled (PostgreSQL LISTEN); returns at once on SQLite, which has none."""
        if self.is_sqlite:
            return
        await signals.relay(self.engine.url, self.signals)

    @contextlib.contextmanager
    def _write(self, announce: tuple[signals.Work, ...] = ()) -> Iterator[Connection]:
        """A write transaction; ``announce``: the kinds of work its commit announces."""
        with _translated_errors(), self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(**{engines.WRITE_OPTION: True})
            with conn.begin():
                yield conn
                self.signals.notify(conn, announce)
        self.signals.tell(announce)

    @contextlib.contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A read; ``snapshot=True`` when several statements must see the same state."""
        with _translated_errors(), self.engine.connect() as conn:
            if not snapshot:
                conn = conn.execution_options(**{engines.AUTOCOMMIT_READ_OPTION: True})
            with conn.begin():
                yield conn

    # -- schema ---------------------------------------------------------------------

    def migrate(self) -> Migration:
        """Apply every pending migration (processes starting together take turns); says
        which revision the database was at and is at now."""
        with _translated_errors(), self._write_lock:
            return migrate.upgrade(self.engine)

    @property
    def display_url(self) -> str:
        """The database's URL as it may be shown: without its password."""
        return engines.display_url(self.engine.url)

    def ping(self) -> None:
        """Raise ``Unavailable`` unless the database answers and, for a SQLite file, its
        disk has room for writes (``SQLITE_MIN_FREE_BYTES``)."""
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))
        path = self.engine.url.database if self.is_sqlite else None
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                room = os.statvfs(os.path.dirname(os.path.abspath(path)))
            except OSError:
                return  # gone or unreadable: the next write says why
            if room.f_bavail * room.f_frsize < SQLITE_MIN_FREE_BYTES:
                raise errors.DatabaseUnavailable(_DISK_FULL)

    # -- senders --------------------------------------------------------------------

    def add_sender(
        self,
        *,
        login: str,
        role: campaigns.Role,
        pin_hash: str,
        lines: int | None,
        result_secret: str,
        now: datetime,
    ) -> campaigns.Sender:
        """Create an account; a sender gets its ``default`` campaign in the same transaction."""
        with self._write() as conn:
            sender = sender_queries.insert_sender(
                conn,
                login=login,
                role=role,
                pin_hash=pin_hash,
                lines=lines,
                result_secret=result_secret,
                now=now,
            )
            if role is campaigns.Role.SENDER:
                campaign_queries.insert_campaign(
                    conn,
                    sender_id=sender.id,
                    name=campaigns.DEFAULT_CAMPAIGN_NAME,
                    state=campaigns.CampaignState.ACTIVE,
                    settings=None,
                    now=now,
                )
            return sender

    def credentials(self, login: str) -> Credentials | None:
        with self._read() as conn:
            return sender_queries.credentials_by_login(conn, login)

    def sender(self, sender_id: int) -> campaigns.Sender | None:
        with self._read() as conn:
            return sender_queries.sender_by_id(conn, sender_id)

    def senders(self) -> list[campaigns.Sender]:
        with self._read() as conn:
            return sender_queries.list_senders(conn)

    def update_sender(
        self,
        login: str,
        *,
        enabled: bool | None = None,
        lines: int | EllipsisType | None = ...,  # ...: leave unchanged
        pin_hash: str | None = None,
        result_secret: str | None = None,
        now: datetime,
    ) -> campaigns.Sender:
        """Change an account; ``NotFound`` if there is no such login."""
        values: dict[str, object] = {}
        if enabled is not None:
            values["enabled"] = enabled
        if lines is not ...:
            values["lines"] = lines
        if pin_hash is not None:
            values["pin_hash"] = pin_hash
            values["pin_changed_at"] = now
        if result_secret is not None:
            values["result_secret"] = result_secret
        # Enabled again, or more lines: its calls may be dialable now.
        announce: tuple[signals.Work, ...] = (
            ("calls",) if enabled is not None or lines is not ... else ()
        )
        with self._write(announce) as conn:
            return sender_queries.update_sender(conn, login, **values)

    def set_pin_hash(self, login: str, pin_hash: str, now: datetime) -> campaigns.Sender:
        """Give an account a new PIN hash and end its web sessions, in one transaction:
        whoever logged in with the old PIN is logged out (``NotFound`` for no such login)."""
        with self._write() as conn:
            sender = sender_queries.update_sender(
                conn, login, pin_hash=pin_hash, pin_changed_at=now
            )
            web_queries.delete_sessions_of(conn, sender.id)
            return sender

    # -- campaigns ------------------------------------------------------------------

    def default_campaign(self, sender_id: int, now: datetime) -> campaigns.Campaign:
        """The sender's ``default`` campaign, created if it is missing."""
        with self._read() as conn:
            found = campaign_queries.campaign_by_name(
                conn, sender_id, campaigns.DEFAULT_CAMPAIGN_NAME
            )
        if found is not None:
            return found
        with self._write() as conn:
            found = campaign_queries.campaign_by_name(
                conn, sender_id, campaigns.DEFAULT_CAMPAIGN_NAME
            )
            if found is not None:
                return found
            return campaign_queries.insert_campaign(
                conn,
                sender_id=sender_id,
                name=campaigns.DEFAULT_CAMPAIGN_NAME,
                state=campaigns.CampaignState.ACTIVE,
                settings=None,
                now=now,
            )

    def start_campaign_upload(
        self, *, sender_id: int, name: str, settings: calls.CallSettings, now: datetime
    ) -> campaigns.Campaign:
        """Create a campaign in state ``loading``: invisible and not dialed until finished.

        If the name is held by an upload whose process died (no batch stored for
        ``UPLOAD_IDLE_LIMIT``), that leftover is removed and the name reused: it is the
        client's retry of the upload that never got an answer.
        """
        with self._write() as conn:
            for campaign_id in campaign_queries.stale_loading_campaign_ids(
                conn, idle_since=now - UPLOAD_IDLE_LIMIT, sender_id=sender_id, name=name
            ):
                campaign_queries.delete_campaign(conn, campaign_id)
            return campaign_queries.insert_campaign(
                conn,
                sender_id=sender_id,
                name=name,
                state=campaigns.CampaignState.LOADING,
                settings=settings,
                now=now,
            )

    @retried
    def add_campaign_batch(
        self,
        *,
        sender_id: int,
        campaign: campaigns.Campaign,
        new_calls: Sequence[calls.NewCall],
        rejections: Sequence[tuple[int, str]],
        now: datetime,
    ) -> Sequence[int]:
        """Store one batch of a loading campaign's phone_list; returns the calls' ids."""
        assert campaign.settings is not None
        with self._write() as conn:
            call_queries.relax_durability(conn)  # finish_campaign_upload commits for real
            ids = call_queries.insert_calls_bulk(
                conn,
                sender_id=sender_id,
                campaign_id=campaign.id,
                settings=campaign.settings,
                new_calls=new_calls,
                now=now,
            )
            campaign_queries.insert_rejections(conn, campaign.id, rejections)
            # The heartbeat of the upload; if housekeeping took it for dead meanwhile,
            # nothing of this batch is kept and the client is told to send it again.
            if not campaign_queries.touch_loading(conn, campaign.id, now):
                raise errors.Unavailable(_UPLOAD_LOST)
        return ids

    def finish_campaign_upload(
        self, campaign_id: int, now: datetime, *, idempotency_key: tuple[int, str] | None = None
    ) -> None:
        """Make a loaded campaign active (and so visible and dialable), atomically."""
        with self._write(("calls", "searches")) as conn:
            if not campaign_queries.finish_loading(conn, campaign_id, now):
                raise errors.Unavailable(_UPLOAD_LOST)
            if idempotency_key is not None:
                sender_id, key = idempotency_key
                key_queries.complete_key(
                    conn, sender_id=sender_id, key=key, resource_id=campaign_id
                )

    def discard_campaign_upload(self, campaign_id: int) -> None:
        """Delete a campaign that never finished loading, with what it stored."""
        with self._write() as conn:
            campaign_queries.delete_campaign(conn, campaign_id)

    def discard_unfinished_uploads(self, now: datetime) -> int:
        """Delete uploads whose process died mid-way (idle for ``UPLOAD_IDLE_LIMIT``).

        Their client never got an answer, so it will send the list again. Uploads still
        running in another process store a batch every second or so and are kept.
        """
        with self._write() as conn:
            leftovers = campaign_queries.stale_loading_campaign_ids(
                conn, idle_since=now - UPLOAD_IDLE_LIMIT
            )
            for campaign_id in leftovers:
                campaign_queries.delete_campaign(conn, campaign_id)
        return len(leftovers)

    def campaign(self, sender_id: int | None, campaign_id: int) -> campaigns.CampaignSummary:
        """One of the sender's campaigns (any, for ``None``) with its counts; ``NotFound``
        otherwise."""
        with self._read(snapshot=True) as conn:
            found = campaign_queries.campaign_by_id(conn, sender_id, campaign_id)
            if found is None:
                raise errors.NotFound(f"no campaign {campaign_id}")
            counts = campaign_queries.count_calls_by_state(conn, [campaign_id])
        return campaigns.CampaignSummary(found, counts[campaign_id])

    def campaigns(
        self, sender_id: int, *, after_id: int = 0, limit: int = 100
    ) -> list[campaigns.CampaignSummary]:
        """A page of the sender's campaigns, oldest first, with their counts."""
        with self._read(snapshot=True) as conn:
            found = campaign_queries.list_campaigns(conn, sender_id, after_id=after_id, limit=limit)
            counts = campaign_queries.count_calls_by_state(conn, [c.id for c in found])
        return [campaigns.CampaignSummary(c, counts[c.id]) for c in found]

    def campaign_rejections(
        self, campaign_id: int, *, after_line: int = 0, limit: int = 1000
    ) -> list[tuple[int, str]]:
        with self._read() as conn:
            return campaign_queries.rejections(
                conn, campaign_id, after_line=after_line, limit=limit
            )

    def count_campaign_rejections(self, campaign_id: int) -> int:
        with self._read() as conn:
            return campaign_queries.count_rejections(conn, campaign_id)

    # -- calls ----------------------------------------------------------------------

    @retried
    def queue_calls(self, requests: Sequence[CallToQueue]) -> list[int]:
        """Queue single calls, all in one transaction; returns their ids in order.

        A request with an idempotency key records its call in the same transaction.
        """
        with self._write(("calls",)) as conn:
            call_ids = []
            for request in requests:
                call_id = call_queries.insert_call(
                    conn,
                    sender_id=request.sender_id,
                    campaign_id=request.campaign_id,
                    call=request.call,
                    settings=request.settings,
                    now=request.now,
                )
                if request.idempotency_key is not None:
                    key_queries.complete_key(
                        conn,
                        sender_id=request.sender_id,
                        key=request.idempotency_key,
                        resource_id=call_id,
                    )
                call_ids.append(call_id)
            return call_ids

    def call(self, sender_id: int | None, call_id: int) -> calls.Call:
        """One of the sender's calls (any, for ``None``: the admin); ``NotFound`` otherwise."""
        with self._read() as conn:
            found = call_queries.call_by_id(conn, sender_id, call_id)
        if found is None:
            raise errors.NotFound(f"no call {call_id}")
        return found

    def calls(
        self,
        sender_id: int,
        *,
        campaign_id: int | None = None,
        state: calls.CallState | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[calls.Call]:
        """A page of the sender's calls, by id."""
        with self._read() as conn:
            return call_queries.list_calls(
                conn,
                sender_id,
                campaign_id=campaign_id,
                state=state,
                after_id=after_id,
                limit=limit,
            )

    # -- idempotency keys -------------------------------------------------------------

    def reserve_idempotency_key(
        self,
        *,
        sender_id: int,
        key: str,
        endpoint: str,
        request_hash: str,
        now: datetime,
        hold: timedelta,
    ) -> KeyRecord | None:
        """Claim ``key``; None if it is now ours, else the record that holds it."""
        with self._write() as conn:
            return key_queries.reserve_key(
                conn,
                sender_id=sender_id,
                key=key,
                endpoint=endpoint,
                request_hash=request_hash,
                reserved_until=now + hold,
                now=now,
            )

    def release_idempotency_key(self, *, sender_id: int, key: str) -> None:
        with self._write() as conn:
            key_queries.release_key(conn, sender_id=sender_id, key=key)

    def expire_idempotency_keys(self, cutoff: datetime) -> int:
        with self._write() as conn:
            return key_queries.delete_keys_before(conn, cutoff)

    # -- dialing ----------------------------------------------------------------------

    @retried
    def claim_calls(
        self,
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        limits: leases.DialLimits,
        max_claims: int,
        rotation: int,
    ) -> list[leases.Claim]:
        """Claim due calls for ``worker`` within every limit (see ``store.leases``)."""
        with self._write() as conn:
            return leases.claim_calls(
                conn,
                worker=worker,
                now=now,
                lease_until=lease_until,
                limits=limits,
                max_claims=max_claims,
                rotation=rotation,
            )

    @retried
    def mark_ringing(self, items: Sequence[tuple[int, int, str, datetime]]) -> list[None]:
        """(call_id, attempt, worker, at) of calls now ringing."""
        with self._write() as conn:
            attempt_queries.mark_ringing(conn, items)
        return [None] * len(items)

    @retried
    def mark_connected(self, items: Sequence[tuple[int, int, str, datetime, str]]) -> list[None]:
        """(call_id, attempt, worker, at, callee_type) of calls just answered."""
        with self._write() as conn:
            attempt_queries.mark_connected(conn, items)
        return [None] * len(items)

    @retried
    def finish_attempts(self, ends: Sequence[attempt_queries.AttemptEnd]) -> list[bool]:
        """Apply attempt ends; per end, whether it was applied (False: its lease was lost)."""
        finals = any(end.state.is_final for end in ends)
        with self._write(("results",) if finals else ()) as conn:
            applied = set(attempt_queries.finish_attempts(conn, ends))
        return [end.call.id in applied for end in ends]

    @retried
    def record_events(self, events: Sequence[attempt_queries.Event]) -> list[None]:
        with self._write() as conn:
            attempt_queries.insert_events(conn, events)
        return [None] * len(events)

    @retried
    def heartbeat(
        self,
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        holding: Collection[int] | None = None,
    ) -> list[int]:
        """Renew the worker's call leases (only those in ``holding`` if given: a claim
        whose answer was lost runs out and is taken over); returns its calls asked to
        cancel. The deliverer renews its results' leases itself (``renew_deliveries``)."""
        with self._write() as conn:
            return leases.renew_call_leases(
                conn, worker=worker, now=now, lease_until=lease_until, holding=holding
            )

    @retried
    def sweep(self, *, now: datetime, lease_s: float, batch: int = 1000) -> dict[str, int]:
        """The dialer's housekeeping: take over dead workers' calls, expire due calls,
        cancel the queued calls of canceled campaigns. Returns counts by kind."""
        with self._write() as conn:
            reclaimed = leases.reclaim_calls(conn, now=now, lease_s=lease_s)
            if reclaimed:  # given back to be dialed, or ended with a result
                self.signals.notify(conn, ("calls", "results"))
        with self._write() as conn:
            expired = leases.expire_due_calls(conn, now=now, limit=batch)
        with self._write() as conn:
            canceled = control_queries.cancel_queued_of_canceled(conn, now=now, limit=batch)
        if reclaimed:
            self.signals.tell(("calls", "results"))
        elif expired or canceled:
            self.signals.tell(("results",))
        return {"reclaimed": reclaimed, "expired": expired, "canceled": canceled}

    def next_work_at(self, now: datetime) -> datetime | None:
        """When a dialer next has work nobody will announce (``leases.next_work_at``)."""
        with self._read(snapshot=True) as conn:
            return leases.next_work_at(conn, now)

    def live_calls(self) -> dict[int, int]:
        """Calls up now (dialing, ringing, connected) per sender."""
        with self._read() as conn:
            return leases.live_calls_by_sender(conn)

    @retried
    def set_suspended(self, suspended: bool, now: datetime) -> None:
        """The admin's global suspend (True) or resume (False) of all dialing."""
        with self._write(() if suspended else ("calls",)) as conn:
            system_queries.set_flag(
                conn, system_queries.SUSPENDED, "true" if suspended else "false", now
            )

    def suspended(self) -> bool:
        with self._read() as conn:
            return system_queries.get_flag(conn, system_queries.SUSPENDED) == "true"

    # -- control ----------------------------------------------------------------------

    @retried
    def cancel_call(self, sender_id: int | None, call_id: int, now: datetime) -> domain_calls.Call:
        """Cancel a call (see ``queries.control.cancel_call``); returns it afterwards."""
        with self._write(("results",)) as conn:
            found = call_queries.call_by_id(conn, sender_id, call_id)
            if found is None:
                raise errors.NotFound(f"no call {call_id}")
            control_queries.cancel_call(conn, found, now)
            after = call_queries.call_by_id(conn, sender_id, call_id)
        assert after is not None
        return after

    @retried
    def steer_campaign(
        self, sender_id: int | None, campaign_id: int, action: str, now: datetime
    ) -> domain_campaigns.CampaignSummary:
        """Pause, resume or cancel a campaign; a cancel also cancels a first batch of its
        queued calls (the dialer's sweep does the rest)."""
        # A resume makes calls dialable; a cancel leaves the rest to the dialer's sweep.
        announce: tuple[signals.Work, ...] = () if action == "pause" else ("calls",)
        with self._write(announce) as conn:
            found = campaign_queries.campaign_by_id(conn, sender_id, campaign_id)
            if found is None:
                raise errors.NotFound(f"no campaign {campaign_id}")
            control_queries.steer_campaign(conn, found, action, now)
        if action == "cancel":
            with self._write(("results",)) as conn:
                control_queries.cancel_queued_of_canceled(conn, now=now, limit=5000)
        return self.campaign(sender_id, campaign_id)

    # -- history ----------------------------------------------------------------------

    def call_events(
        self, sender_id: int | None, call_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> list[tuple[int, attempt_queries.Event]]:
        """(event id, event) of one of the sender's calls, oldest first."""
        with self._read(snapshot=True) as conn:
            if call_queries.call_by_id(conn, sender_id, call_id) is None:
                raise errors.NotFound(f"no call {call_id}")
            return attempt_queries.events_of(conn, call_id, after_id=after_id, limit=limit)

    def call_attempts(self, sender_id: int | None, call_id: int) -> list[attempt_queries.Attempt]:
        with self._read(snapshot=True) as conn:
            if call_queries.call_by_id(conn, sender_id, call_id) is None:
                raise errors.NotFound(f"no call {call_id}")
            return attempt_queries.attempts_of(conn, call_id)

    def call_deliveries(
        self, sender_id: int | None, call_id: int
    ) -> list[delivery_queries.Delivery]:
        with self._read(snapshot=True) as conn:
            if call_queries.call_by_id(conn, sender_id, call_id) is None:
                raise errors.NotFound(f"no call {call_id}")
            return delivery_queries.deliveries_of_call(conn, call_id)

    # -- result deliveries ---------------------------------------------------------------

    @retried
    def claim_deliveries(
        self,
        *,
        worker: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        in_flight: Mapping[int, int] | None = None,
        per_sender: int | None = None,
    ) -> list[delivery_queries.DeliveryJob]:
        """Lease due results (see ``queries.deliveries.claim_deliveries``)."""
        with self._write() as conn:
            return delivery_queries.claim_deliveries(
                conn,
                worker=worker,
                now=now,
                lease_until=lease_until,
                limit=limit,
                in_flight=in_flight,
                per_sender=per_sender,
            )

    def next_delivery_at(self, now: datetime) -> datetime | None:
        """When a result is next due for a post (``deliveries.next_delivery_at``)."""
        with self._read(snapshot=True) as conn:
            return delivery_queries.next_delivery_at(conn, now)

    @retried
    def renew_deliveries(
        self, *, worker: str, lease_until: datetime, holding: Collection[int] | None = None
    ) -> None:
        """Keep the results ``worker`` is posting (only those in ``holding`` if given)
        leased to it."""
        with self._write() as conn:
            delivery_queries.renew_delivery_leases(
                conn, worker=worker, lease_until=lease_until, holding=holding
            )

    @retried
    def record_deliveries(self, outcomes: Sequence[delivery_queries.DeliveryOutcome]) -> list[None]:
        with self._write() as conn:
            delivery_queries.record_deliveries(conn, outcomes)
        return [None] * len(outcomes)

    # -- web interface ----------------------------------------------------------------

    def web_cookie_key(self, candidate: str, now: datetime) -> str:
        """The key that signs web cookies, shared by every process of the database:
        the stored one, or ``candidate`` stored now if there is none."""
        with self._read() as conn:
            found = system_queries.get_flag(conn, system_queries.WEB_COOKIE_KEY)
        if found is not None:
            return found
        with self._write() as conn:
            found = system_queries.get_flag(conn, system_queries.WEB_COOKIE_KEY)
            if found is not None:
                return found
            system_queries.set_flag(conn, system_queries.WEB_COOKIE_KEY, candidate, now)
            return candidate

    @retried
    def open_web_session(
        self,
        *,
        token_hash: str,
        sender_id: int,
        csrf_token: str,
        address: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        with self._write() as conn:
            web_queries.delete_expired_sessions(conn, now)
            web_queries.insert_session(
                conn,
                token_hash=token_hash,
                sender_id=sender_id,
                csrf_token=csrf_token,
                address=address,
                now=now,
                expires_at=expires_at,
            )

    def web_session(self, token_hash: str, now: datetime) -> WebSession | None:
        """The live session of this token hash, with its account (as it is now)."""
        with self._read() as conn:
            return web_queries.session_by_token(conn, token_hash, now)

    @retried
    def touch_web_session(self, session_id: int, now: datetime, expires_at: datetime) -> None:
        with self._write() as conn:
            web_queries.touch_session(conn, session_id, now, expires_at)

    def close_web_session(self, token_hash: str) -> None:
        with self._write() as conn:
            web_queries.delete_session(conn, token_hash)

    def close_web_sessions_of(self, sender_id: int) -> int:
        with self._write() as conn:
            return web_queries.delete_sessions_of(conn, sender_id)

    @retried
    def record_audit(self, entry: AuditEntry) -> None:
        with self._write() as conn:
            web_queries.insert_audit(conn, entry)

    def audit_entries(self, *, before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
        """The audit log of admin actions, newest first."""
        with self._read() as conn:
            return web_queries.audit_entries(conn, before_id=before_id, limit=limit)

    def campaign_named(self, sender_id: int, name: str) -> domain_campaigns.CampaignSummary:
        """The sender's campaign of this name (never one still loading) with its counts;
        ``NotFound`` otherwise."""
        with self._read(snapshot=True) as conn:
            found = campaign_queries.campaign_by_name(conn, sender_id, name)
            if found is None or found.state is domain_campaigns.CampaignState.LOADING:
                raise errors.NotFound(f'no campaign named "{name}"')
            counts = campaign_queries.count_calls_by_state(conn, [found.id])
        return domain_campaigns.CampaignSummary(found, counts[found.id])

    @retried
    def build_search(self, campaign_id: int, now: datetime) -> bool:
        """Make an uploaded campaign's calls searchable (once); whether this call did it."""
        with self._read() as conn:
            if search_queries.is_built(conn, campaign_id):
                return False
        with self._write() as conn:
            built = search_queries.index_campaign(conn, campaign_id, now)
        if built:
            with self._read() as conn:
                search_queries.refresh_statistics(conn)
        return built

    def build_searches(self, now: datetime, *, limit: int = 10) -> int:
        """Build the search terms of campaigns uploaded since the last pass; how many."""
        with self._read() as conn:
            pending = search_queries.unbuilt_campaign_ids(conn, limit)
        return sum(self.build_search(campaign_id, now) for campaign_id in pending)

    def campaign_calls_page(
        self,
        campaign_id: int,
        *,
        state: domain_calls.CallState | None = None,
        search: str | None = None,
        after_id: int | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[domain_calls.Call]:
        """A keyset page of a campaign's calls (see ``queries.web.campaign_calls_page``).

        The caller has checked that the campaign is its sender's."""
        with self._read() as conn:
            return web_queries.campaign_calls_page(
                conn,
                campaign_id,
                state=state,
                search=search,
                after_id=after_id,
                before_id=before_id,
                limit=limit,
            )
