"""Fixtures shared by every test: a clean environment, databases on both engines,
a loopback web application, and a running vxdial."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.webapp import WebApp, start_webapp
from vxdial.config import AuthSettings, DatabaseSettings, IntakeSettings, Settings
from vxdial.store import Store

# Not VXDIAL_*: those are stripped from every test's environment.
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("VXDIAL_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


class PostgresDatabases:
    """Fresh databases cloned from one migrated template (fast: no migration per test)."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.template = f"vxdial_template_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.template}"')
        store = Store.open(self.url(self.template))
        store.migrate()
        store.close()

    def url(self, name: str) -> str:
        return (
            sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        )

    def fresh(self) -> str:
        name = f"vxdial_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return self.url(name)

    def drop(self, url: str) -> None:
        name = sa.make_url(url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in [*self.created, self.template]:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.close()


def fresh_database(request: pytest.FixtureRequest, engine: str, folder: Path) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database on ``engine``, dropped afterwards."""
    if engine == "sqlite":
        url = f"sqlite:///{folder / 'vxdial.db'}"
        store = Store.open(url)
        store.migrate()
        store.close()
        yield url
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.fresh()
    yield url
    databases.drop(url)


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each engine in turn."""
    yield from fresh_database(request, request.param, tmp_path)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (for what only PostgreSQL has)."""
    yield from fresh_database(request, "postgresql", tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'vxdial.db'}"
    store = Store.open(url)
    store.migrate()
    store.close()
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


@pytest.fixture
def webapp() -> Iterator[WebApp]:
    app, server = start_webapp()
    yield app
    server.shutdown()
    server.server_close()


# argon2 at its production cost takes ~60 ms a hash; tests make many.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def make_settings(database_url: str, **sections: object) -> Settings:
    """Settings for a test: the defaults, this database, probes that give up quickly,
    cheap PIN hashing (an ``auth=`` section given keeps it unless it sets its own)."""
    settings = Settings(
        database=DatabaseSettings(url=database_url),
        intake=IntakeSettings(url_check_timeout_s=2.0),
        auth=AuthSettings(**CHEAP_ARGON2),  # type: ignore[arg-type]
    )
    auth = sections.pop("auth", None)
    if isinstance(auth, AuthSettings):
        if auth.argon2_memory_kib == AuthSettings().argon2_memory_kib:
            auth = replace(auth, **CHEAP_ARGON2)  # type: ignore[arg-type]
        sections["auth"] = auth
    return replace(settings, **sections)  # type: ignore[arg-type]


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
