"""Updating many rows, each with its own values, in one statement where the engine allows.

PostgreSQL: ``UPDATE t SET ... FROM unnest(:a[], :b[], ...) AS v WHERE t.key = v.key``, one
statement of fixed text (compiled once) with one array parameter a column, one round
trip. An executemany through psycopg's pipeline cost ~30 us of
Python per row and was a third of a dialing worker's time at 500 calls/s. SQLite:
``executemany`` (in process, already cheap). This is the one other dialect branch of
store/ besides ``leases.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement


def update_rows(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, object]],
    *,
    match: Sequence[str],
    assign: Mapping[str, str | object],
    where: Sequence[ColumnElement[bool]] = (),
) -> None:
    """For each row: UPDATE ``table`` SET column = row[key] (``assign`` maps a column to
    a row key, or to a value or SQL expression shared by every row) WHERE each ``match``
    column equals the row's value of that name, and every ``where`` clause holds.
    ``where`` must not use IN (...) lists (they cannot go into an executemany)."""
    if not rows:
        return
    from_row = {column: key for column, key in assign.items() if isinstance(key, str)}
    shared = {column: value for column, value in assign.items() if not isinstance(value, str)}
    keys = [*match, *dict.fromkeys(from_row.values())]
    types = {name: table.c[name].type for name in match}
    for column, key in from_row.items():
        types.setdefault(key, table.c[column].type)
    if conn.dialect.name == "postgresql":
        # One array parameter a column: the statement's text is the same whatever the
        # number of rows, so it is compiled once and cached.
        element = {k: _array_element(types[k]) for k in keys}
        values = (
            sa.func.unnest(
                *(sa.bindparam(f"k_{k}", type_=postgresql.ARRAY(element[k])) for k in keys)
            )
            .table_valued(*(sa.column(k, element[k]) for k in keys))
            .render_derived(name="v")
        )
        conn.execute(
            sa.update(table)
            .where(*(table.c[m] == values.c[m] for m in match), *where)
            .values({**{c: values.c[k] for c, k in from_row.items()}, **shared}),
            {f"k_{k}": [_plain(types[k], row[k], conn.dialect) for row in rows] for k in keys},
        )
        return
    statement = (
        sa.update(table)
        .where(*(table.c[m] == sa.bindparam(f"k_{m}", type_=types[m]) for m in match), *where)
        .values(
            {
                **{c: sa.bindparam(f"k_{k}", type_=types[k]) for c, k in from_row.items()},
                **shared,
            }
        )
    )
    conn.execute(statement, [{f"k_{k}": row[k] for k in keys} for row in rows])


def _array_element(kind: sa.types.TypeEngine[object]) -> sa.types.TypeEngine[object]:
    """The type an array of ``kind`` values is sent as (a TypeDecorator's storage type)."""
    if isinstance(kind, sa.types.TypeDecorator):
        return kind.impl_instance
    return kind


def _plain(kind: sa.types.TypeEngine[object], value: object, dialect: Dialect) -> object:
    if isinstance(kind, sa.types.TypeDecorator):
        return kind.process_bind_param(value, dialect)
    return value
