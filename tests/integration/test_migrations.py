"""The Alembic revisions build exactly the schema of store/tables.py, on both engines."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from vxdial.store import Store, migrate, tables


def test_head_matches_tables(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, tables.metadata)
        assert differences == []
    finally:
        store.close()


def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(tables.senders).values(
                    login="keep",
                    role="sender",
                    pin_hash="x",
                    enabled=True,
                    lines=None,
                    result_secret="s",
                    created_at=0,
                    pin_changed_at=0,
                )
            )
        store.migrate()
        assert store.credentials("keep") is not None
    finally:
        store.close()


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        config = migrate.alembic_config()
        from alembic import command

        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
        store.migrate()
        assert {"senders", "campaigns", "calls"} <= set(sa.inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_a_canceled_default_campaign_is_paused_by_0004(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        from alembic import command

        config = migrate.alembic_config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")
        with store.engine.begin() as conn:
            sender_id = conn.execute(
                sa.insert(tables.senders)
                .values(
                    login="legacy",
                    role="sender",
                    pin_hash="x",
                    enabled=True,
                    lines=None,
                    result_secret="s",
                    created_at=0,
                    pin_changed_at=0,
                )
                .returning(tables.senders.c.id)
            ).scalar_one()
            for name in ("default", "upload"):
                conn.execute(
                    sa.insert(tables.campaigns).values(
                        sender_id=sender_id, name=name, state="canceled", created_at=0, updated_at=0
                    )
                )
        store.migrate()
        with store.engine.connect() as conn:
            states = dict(
                conn.execute(
                    sa.select(tables.campaigns.c.name, tables.campaigns.c.state).where(
                        tables.campaigns.c.sender_id == sender_id
                    )
                ).all()
            )
        assert states == {"default": "paused", "upload": "canceled"}
    finally:
        store.close()
