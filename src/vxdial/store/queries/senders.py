"""Statements over ``senders``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from vxdial.domain import campaigns, errors
from vxdial.store.tables import senders


@dataclass(frozen=True, slots=True)
class Credentials:
    """A sender with what a login check needs (the argon2 hash never leaves store/ otherwise)."""

    sender: campaigns.Sender
    pin_hash: str


def _sender(row: RowMapping) -> campaigns.Sender:
    return campaigns.Sender(
        id=row["id"],
        login=row["login"],
        role=campaigns.Role(row["role"]),
        enabled=row["enabled"],
        lines=row["lines"],
        result_secret=row["result_secret"],
        created_at=row["created_at"],
    )


def insert_sender(
    conn: Connection,
    *,
    login: str,
    role: campaigns.Role,
    pin_hash: str,
    lines: int | None,
    result_secret: str,
    now: datetime,
) -> campaigns.Sender:
    """Add a sender; ``Conflict`` if the login is taken."""
    try:
        row = (
            conn.execute(
                sa.insert(senders)
                .values(
                    login=login,
                    role=role.value,
                    pin_hash=pin_hash,
                    enabled=True,
                    lines=lines,
                    result_secret=result_secret,
                    created_at=now,
                    pin_changed_at=now,
                )
                .returning(*senders.c)
            )
            .mappings()
            .one()
        )
    except sa.exc.IntegrityError as exc:
        raise errors.Conflict("login", f'"{login}" already exists') from exc
    return _sender(row)


# Built once: every authenticated request runs it.
_BY_LOGIN = sa.select(senders).where(senders.c.login == sa.bindparam("login"))


def credentials_by_login(conn: Connection, login: str) -> Credentials | None:
    """The sender with this login and its PIN hash, or None."""
    row = conn.execute(_BY_LOGIN, {"login": login}).mappings().first()
    if row is None:
        return None
    return Credentials(_sender(row), row["pin_hash"])


def sender_by_id(conn: Connection, sender_id: int) -> campaigns.Sender | None:
    """One sender by id, or None."""
    row = conn.execute(sa.select(senders).where(senders.c.id == sender_id)).mappings().first()
    return None if row is None else _sender(row)


def list_senders(conn: Connection) -> list[campaigns.Sender]:
    """Every account, admin included, by login."""
    rows = conn.execute(sa.select(senders).order_by(senders.c.login)).mappings()
    return [_sender(row) for row in rows]


def update_sender(conn: Connection, login: str, **values: object) -> campaigns.Sender:
    """Change columns of the sender with this login; ``NotFound`` if there is none."""
    row = (
        conn.execute(
            sa.update(senders)
            .where(senders.c.login == login)
            .values(**values)
            .returning(*senders.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise errors.NotFound(f'no account "{login}"')
    return _sender(row)
