"""Work announcements: who should wake up after a write (issue 12, item 17).

An idle dialer, result deliverer or search builder does not poll the database; it
sleeps until its next due time, or until a write that may have made work for it is
announced:

- in this process, by the ``Store`` method that committed it, to the listeners
  subscribed with ``Store.on_work`` (called on the writing thread, after the commit);
- to other processes sharing a PostgreSQL database, by ``NOTIFY`` in the same
  transaction (delivered at its commit), which ``relay`` (one ``LISTEN`` connection per
  process) hands to the local listeners. SQLite has no such channel: another process's
  writes are found by the listeners' own rare safety poll (``[dialer] poll_s``).

Kinds of work: ``calls`` (calls to dial: queued, a campaign or the system resumed, a
sender enabled), ``results`` (results in the outbox), ``searches`` (an upload finished:
its search terms to build).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from psycopg.pq.abc import PGconn

log = logging.getLogger("vxdial.store")

Work = Literal["calls", "results", "searches"]
KINDS: tuple[Work, ...] = ("calls", "results", "searches")
_BY_NAME: dict[str, Work] = {kind: kind for kind in KINDS}
CHANNEL = "vxdial_work"
RECONNECT_S = (1.0, 30.0)  # first and longest wait before listening again after a failure

Listener = Callable[[Work], None]


class Signals:
    """The listeners of one ``Store``, and the token that marks its own notifications
    (a process's NOTIFY comes back to its own LISTEN; it has told its listeners already)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex[:16]
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(kind)`` for each announcement, from whatever thread made it
        (use ``loop.call_soon_threadsafe``); returns the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def tell(self, kinds: tuple[Work, ...]) -> None:
        """Tell every listener; one failing listener does not keep it from the others."""
        if not kinds:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            for kind in kinds:
                try:
                    listener(kind)
                except Exception:
                    log.exception("store.work_listener_failed kind=%s", kind)

    def notify(self, conn: Connection, kinds: tuple[Work, ...]) -> None:
        """In a write transaction on PostgreSQL: announce ``kinds`` to the other
        processes when it commits (NOTIFY is transactional; repeats are folded)."""
        if conn.dialect.name != "postgresql":
            return
        for kind in kinds:
            conn.execute(
                sa.text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": f"{kind}:{self.token}"},
            )


async def relay(url: sa.URL, signals: Signals) -> None:
    """LISTEN on the PostgreSQL database at ``url`` and tell ``signals``' listeners what
    other processes announce; runs until cancelled, connecting again after a failure.
    On each (re)connection every kind is told once: announcements may have been missed
    while not listening."""
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    wait_s = RECONNECT_S[0]
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                wait_s = RECONNECT_S[0]
                log.info("store.listening channel=%s", CHANNEL)
                signals.tell(KINDS)
                await _hand_over(conn.pgconn, signals)
        except psycopg.Error as exc:
            log.warning(
                "store.listen_failed error=%s; listening again in %g s",
                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
                wait_s,
            )
        await asyncio.sleep(wait_s)
        wait_s = min(wait_s * 2, RECONNECT_S[1])


async def _hand_over(pgconn: PGconn, signals: Signals) -> None:
    """Read notifications as the connection's socket becomes readable, until it fails
    (raising ``psycopg.OperationalError``).

    Not ``AsyncConnection.notifies()``: its wait wakes every 0.1 s (to notice Ctrl-C),
    which was most of an idle process's CPU. A reader on the socket costs nothing until
    a notification arrives (libpq's consume_input/notifies, psycopg's ``pq`` layer)."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    socket = pgconn.socket
    loop.add_reader(socket, readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            pgconn.consume_input()  # raises OperationalError once the connection is lost
            while (notification := pgconn.notifies()) is not None:
                name, _, token = notification.extra.decode().partition(":")
                kind = _BY_NAME.get(name)
                if kind is not None and token != signals.token:
                    signals.tell((kind,))
    finally:
        loop.remove_reader(socket)
