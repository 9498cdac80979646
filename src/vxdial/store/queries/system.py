"""Statements over ``system_flags``: settings every process shares."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vxdial.store.tables import system_flags

SUSPENDED = "suspended"  # "true" while the admin has suspended all dialing
DIAL_SLOT_AT = "dial_slot_at"  # UNIX ms of the next free calls-per-second slot
WEB_COOKIE_KEY = "web_cookie_key"  # hex key signing the web interface's cookies


def get_flag(conn: Connection, name: str) -> str | None:
    """The flag's value, or None."""
    value: str | None = conn.execute(
        sa.select(system_flags.c.value).where(system_flags.c.name == name)
    ).scalar()
    return value


def set_flag(conn: Connection, name: str, value: str, now: datetime) -> None:
    """Set (create or replace) a flag."""
    updated = conn.execute(
        sa.update(system_flags)
        .where(system_flags.c.name == name)
        .values(value=value, updated_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(system_flags).values(name=name, value=value, updated_at=now))
