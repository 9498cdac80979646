"""initial schema: senders, campaigns, calls, rejections, idempotency keys

Revision ID: 0001
Revises: -
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Frozen copies of tables.py's column types: a revision must never change after release.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # times are BigInteger ms

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "senders",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("login", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=True),
        sa.Column("result_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("pin_changed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_senders")),
        sa.UniqueConstraint("login", name=op.f("uq_senders_login")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "campaigns",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sender_id", Id, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("start_url", sa.String(length=255), nullable=True),
        sa.Column("result_url", sa.String(length=255), nullable=True),
        sa.Column("max_retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval_s", sa.Integer(), nullable=True),
        sa.Column("scheduled_at", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["senders.id"], name=op.f("fk_campaigns_sender_id_senders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("sender_id", "name", name=op.f("uq_campaigns_sender_id_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sender_id", Id, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_id", Id, nullable=True),
        sa.Column("reserved_until", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["senders.id"], name=op.f("fk_idempotency_keys_sender_id_senders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("sender_id", "key", name=op.f("uq_idempotency_keys_sender_id_key")),
    )
    op.create_table(
        "calls",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("sender_id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("phone_number", sa.String(length=32), nullable=False),
        sa.Column("ani", sa.String(length=32), nullable=True),
        sa.Column("postd", sa.String(length=64), nullable=True),
        sa.Column("message_reference", sa.String(length=255), nullable=True),
        sa.Column("call_parameters", sa.String(length=255), nullable=True),
        sa.Column("start_url", sa.String(length=255), nullable=True),
        sa.Column("result_url", sa.String(length=255), nullable=True),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_interval_s", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("queued_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calls_campaign_id_id"), ["campaign_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_sender_id_id"), ["sender_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calls_state_next_attempt_at"), ["state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "campaign_rejections",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_rejections_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_rejections")),
    )
    with op.batch_alter_table("campaign_rejections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_rejections_campaign_id_line"),
            ["campaign_id", "line"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_rejections_campaign_id_line"))

    op.drop_table("campaign_rejections")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_state_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_calls_sender_id_id"))
        batch_op.drop_index(batch_op.f("ix_calls_campaign_id_id"))

    op.drop_table("calls")
    op.drop_table("idempotency_keys")
    op.drop_table("campaigns")
    op.drop_table("senders")
