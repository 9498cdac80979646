"""Creating the SQLAlchemy engine for a database URL, with each engine's habits.

SQLite: one file in WAL mode (readers never wait for the writer), ``synchronous=NORMAL``
(durable across a process crash; a power cut may lose the last commits), foreign keys
on, and write transactions opened with ``BEGIN IMMEDIATE`` so two writers queue on the
lock instead of failing with "database is locked" when a reader upgrades.
PostgreSQL: psycopg 3, a small pool, pre-ping for connections dropped by a restart.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from vxdial.domain import errors

WRITE_OPTION = "vxdial_write"
# A SQLite read without BEGIN runs in autocommit: each statement sees a consistent
# snapshot on its own, and the round trips of BEGIN/COMMIT are saved.
AUTOCOMMIT_READ_OPTION = "vxdial_autocommit_read"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept the common spellings and pick our drivers: psycopg 3 and pysqlite."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``; raises ``InvalidInput("database.url", ...)`` for others."""
    url = normalize_url(url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise errors.InvalidInput("database.url", f'"{url}" is not a database URL') from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(parsed, pool_size=pool_size, max_overflow=pool_size * 2)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        return sa.create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
        )
    raise errors.InvalidInput(
        "database.url", f'"{backend}" is not supported; use sqlite:/// or postgresql://'
    )


def display_url(url: str | sa.URL) -> str:
    """``url`` as it may be printed or logged: its password (in the user part or a
    ``password=`` query parameter, which psycopg also reads) shown as ``***``."""
    try:
        parsed = sa.make_url(normalize_url(url) if isinstance(url, str) else url)
    except sa.exc.ArgumentError:
        return "(not a database URL)"
    if "password" not in parsed.query:
        return parsed.render_as_string(hide_password=True)
    # A placeholder that the query's %-escaping leaves alone, then the user part's mark.
    hidden = parsed.update_query_dict({"password": "HIDDEN"}).render_as_string(hide_password=True)
    return hidden.replace("password=HIDDEN", "password=***")


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so BEGIN is ours (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(AUTOCOMMIT_READ_OPTION):
            connection.exec_driver_sql("BEGIN")
