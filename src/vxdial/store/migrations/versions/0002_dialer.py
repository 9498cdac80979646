"""the dialer: leases, attempts, events, result deliveries, system flags

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Frozen copies of tables.py's column types: a revision must never change after release.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # times are BigInteger ms

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("call_id", Id, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ringing_at", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("cause", sa.String(length=255), nullable=True),
        sa.Column("callee_type", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attempts")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("call_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_attempts_call_id_attempt"), ["call_id", "attempt"], unique=False
        )

    op.create_table(
        "call_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("call_id", Id, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_events_call_id_id"), ["call_id", "id"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("call_id", Id, nullable=False),
        sa.Column("sender_id", Id, nullable=False),
        sa.Column("delivery_key", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("call_id", name=op.f("uq_deliveries_call_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_state_next_attempt_at"),
            ["state", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "delivery_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("delivery_id", Id, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_delivery_id_id"), ["delivery_id", "id"], unique=False
        )

    op.create_table(
        "system_flags",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_system_flags")),
    )
    # Plain ALTERs (no batch copy): calls may hold millions of rows, and SQLite adds
    # nullable columns and indexes in place.
    op.add_column("calls", sa.Column("lease_owner", sa.String(length=64), nullable=True))
    op.add_column("calls", sa.Column("lease_expires_at", sa.BigInteger(), nullable=True))
    op.add_column("calls", sa.Column("cancel_requested", sa.Boolean(), nullable=True))
    op.add_column("calls", sa.Column("callee_type", sa.String(length=24), nullable=True))
    op.add_column("calls", sa.Column("first_attempt_at", sa.BigInteger(), nullable=True))
    op.add_column("calls", sa.Column("last_attempt_at", sa.BigInteger(), nullable=True))
    op.add_column("calls", sa.Column("ended_at", sa.BigInteger(), nullable=True))
    op.add_column("calls", sa.Column("duration_s", sa.Integer(), nullable=True))
    op.drop_index(op.f("ix_calls_state_next_attempt_at"), table_name="calls")
    op.create_index(
        op.f("ix_calls_campaign_id_state_next_attempt_at"),
        "calls",
        ["campaign_id", "state", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_calls_state_expires_at"), "calls", ["state", "expires_at"], unique=False
    )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_state_expires_at"))
        batch_op.drop_index(batch_op.f("ix_calls_campaign_id_state_next_attempt_at"))
        batch_op.create_index(
            batch_op.f("ix_calls_state_next_attempt_at"), ["state", "next_attempt_at"], unique=False
        )
        batch_op.drop_column("duration_s")
        batch_op.drop_column("ended_at")
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("first_attempt_at")
        batch_op.drop_column("callee_type")
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")

    op.drop_table("system_flags")
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_state_next_attempt_at"))

    op.drop_table("deliveries")
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_events_call_id_id"))

    op.drop_table("call_events")
    with op.batch_alter_table("call_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_attempts_call_id_attempt"))

    op.drop_table("call_attempts")
