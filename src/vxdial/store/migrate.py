"""Applying the Alembic revisions under ``store/migrations`` to a database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from vxdial.store.engine import WRITE_OPTION

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# Any constant will do: it names the lock that processes migrating together take turns on.
_PG_MIGRATION_LOCK = 0x7678_6469  # "vxdi"


@dataclass(frozen=True)
class Migration:
    """What ``upgrade`` did: the database's revision before and after (None: no schema)."""

    before: str | None
    after: str | None

    @property
    def migrated(self) -> bool:
        return self.before != self.after


def upgrade(engine: Engine, revision: str = "head") -> Migration:
    """Bring the schema to ``revision``; safe to run when already there, and when several
    processes start at once (they take turns: an advisory lock on PostgreSQL, the write
    lock of BEGIN IMMEDIATE on SQLite). Alembic logs each step at INFO on the
    ``alembic`` logger; the command line keeps that quiet and prints the ``Migration``."""
    config = alembic_config()
    with engine.connect() as connection:
        connection = connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            # Read under the lock: a process that waited sees what the first one left.
            before = MigrationContext.configure(connection).get_current_revision()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            after = MigrationContext.configure(connection).get_current_revision()
    return Migration(before, after)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
