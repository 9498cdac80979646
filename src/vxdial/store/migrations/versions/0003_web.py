"""the web interface: sessions, the audit log, per-campaign counts by state, call search

Revision ID: 0003
Revises: 0002

``campaign_counts`` is kept by store/ for inserted calls and by a trigger for state
changes: a row-level one on SQLite (writers take turns there anyway), a statement-level
one with transition tables on PostgreSQL, so that a statement moving many calls (the
dialer's claims, a campaign's cancel) updates each count once, in a fixed order.

SQLite drops a table's triggers when ``batch_alter_table`` rebuilds it: a later revision
that rebuilds ``calls`` on SQLite must create the trigger again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Frozen copies of tables.py's column types: a revision must never change after release.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # times are BigInteger ms
Term = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
CREATE TRIGGER calls_count_states AFTER UPDATE OF state ON calls
WHEN OLD.state <> NEW.state
BEGIN
    INSERT INTO campaign_counts (campaign_id, state, calls)
    VALUES (NEW.campaign_id, NEW.state, 1)
    ON CONFLICT (campaign_id, state) DO UPDATE SET calls = calls + 1;
    UPDATE campaign_counts SET calls = calls - 1
    WHERE campaign_id = OLD.campaign_id AND state = OLD.state;
END
"""

POSTGRES_FUNCTION = """
CREATE FUNCTION vxdial_count_call_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_counts AS counts (campaign_id, state, calls)
    SELECT campaign_id, state, sum(delta) FROM (
        SELECT n.campaign_id, n.state, 1 AS delta
        FROM new_calls n JOIN old_calls o ON o.id = n.id WHERE o.state <> n.state
        UNION ALL
        SELECT o.campaign_id, o.state, -1 AS delta
        FROM new_calls n JOIN old_calls o ON o.id = n.id WHERE o.state <> n.state
    ) AS changes
    GROUP BY campaign_id, state
    HAVING sum(delta) <> 0
    ORDER BY campaign_id, state
    ON CONFLICT (campaign_id, state) DO UPDATE SET calls = counts.calls + EXCLUDED.calls;
    RETURN NULL;
END
$$
"""

# A column list (UPDATE OF state) is not allowed with transition tables; the function
# joins only the rows whose state changed.
POSTGRES_TRIGGER = """
CREATE TRIGGER calls_count_states AFTER UPDATE ON calls
REFERENCING OLD TABLE AS old_calls NEW TABLE AS new_calls
FOR EACH STATEMENT EXECUTE FUNCTION vxdial_count_call_states()
"""


def upgrade() -> None:
    op.create_table(
        "campaign_counts",
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "state", name=op.f("pk_campaign_counts")),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sender_id", Id, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["senders.id"], name=op.f("fk_web_sessions_sender_id_senders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_web_sessions_sender_id"), "web_sessions", ["sender_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("admin", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sqlite_autoincrement=True,
    )
    # Plain create_index, not batch_alter_table: on SQLite a batch rebuilds ``calls``.
    op.create_index(op.f("ix_calls_campaign_id_state_id"), "calls", ["campaign_id", "state", "id"])
    op.create_table(
        "call_search",
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("term", Term, nullable=False),
        sa.Column("call_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "term", "call_id", name=op.f("pk_call_search")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "call_search_built",
        sa.Column("campaign_id", Id, autoincrement=False, nullable=False),
        sa.Column("built_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_call_search_built")),
    )
    # The terms of the calls already there: every campaign is then searchable.
    op.execute(
        "INSERT INTO call_search_built (campaign_id, built_at)"
        " SELECT id, updated_at FROM campaigns WHERE start_url IS NOT NULL"
    )
    op.execute(
        "INSERT INTO call_search (campaign_id, term, call_id)"
        " SELECT campaign_id, phone_number, id FROM calls"
        " UNION"
        " SELECT campaign_id, message_reference, id FROM calls"
        " WHERE message_reference IS NOT NULL"
    )
    # The counts of the calls already there, then the trigger that keeps them.
    op.execute(
        "INSERT INTO campaign_counts (campaign_id, state, calls)"
        " SELECT campaign_id, state, COUNT(*) FROM calls GROUP BY campaign_id, state"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS calls_count_states" + _on_calls())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS vxdial_count_call_states()")
    op.drop_table("call_search_built")
    op.drop_table("call_search")
    op.drop_index(op.f("ix_calls_campaign_id_state_id"), table_name="calls")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_web_sessions_sender_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("campaign_counts")


def _on_calls() -> str:
    return " ON calls" if op.get_bind().dialect.name == "postgresql" else ""
