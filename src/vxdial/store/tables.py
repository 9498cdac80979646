"""Every table of vxdial, in one MetaData; the Alembic revisions must produce exactly this.

Times are stored as integer UNIX milliseconds (``Millis``): the same on SQLite and
PostgreSQL, cheap to index and compare, and the dialer's queries take ``now`` as a
parameter rather than calling the database's clock (STYLE.md, "One Clock").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (and so autoincrementing);
# tables whose ids reach clients also say AUTOINCREMENT, so an id is never issued twice
# (without it, SQLite reuses the largest id after a delete).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Millis(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime stored as integer UNIX milliseconds."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int):
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a Millis column")
        return to_millis(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return from_millis(value)


def to_millis(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


senders = sa.Table(
    "senders",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("login", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("pin_hash", sa.String(255), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("lines", sa.Integer, nullable=True),
    sa.Column("result_secret", sa.String(64), nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("pin_changed_at", Millis, nullable=False),
    sqlite_autoincrement=True,
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("sender_id", Id, sa.ForeignKey("senders.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # The settings every call of an uploaded campaign shares; NULL for ``default``,
    # whose calls each carry their own.
    sa.Column("start_url", sa.String(255), nullable=True),
    sa.Column("result_url", sa.String(255), nullable=True),
    sa.Column("max_retries", sa.Integer, nullable=True),
    sa.Column("retry_interval_s", sa.Integer, nullable=True),
    sa.Column("scheduled_at", Millis, nullable=True),
    sa.Column("expires_at", Millis, nullable=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    sa.UniqueConstraint("sender_id", "name"),
    sqlite_autoincrement=True,
)

# No foreign keys on ``calls``: it takes a million rows per upload, and on PostgreSQL
# the two referential-integrity triggers cost more than the rows and indexes together
# (0.63 s vs 2.18 s to COPY 300,000 rows). Only ``store/`` inserts calls, always for a
# campaign it has just read or created, and deletes them before their campaign.
calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("sender_id", Id, nullable=False),
    sa.Column("campaign_id", Id, nullable=False),
    sa.Column("line", sa.Integer, nullable=True),
    sa.Column("phone_number", sa.String(32), nullable=False),
    sa.Column("ani", sa.String(32), nullable=True),
    sa.Column("postd", sa.String(64), nullable=True),
    sa.Column("message_reference", sa.String(255), nullable=True),
    sa.Column("call_parameters", sa.String(255), nullable=True),
    # NULL: the campaign's URLs apply (uploaded campaigns keep them once, not per row).
    sa.Column("start_url", sa.String(255), nullable=True),
    sa.Column("result_url", sa.String(255), nullable=True),
    sa.Column("max_retries", sa.Integer, nullable=False),
    sa.Column("retry_interval_s", sa.Integer, nullable=False),
    sa.Column("scheduled_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Millis, nullable=True),
    sa.Column("queued_at", Millis, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
    # The dialer's (revision 0002). All nullable, so bulk inserts need not name them.
    sa.Column("lease_owner", sa.String(64), nullable=True),  # the worker working on it
    sa.Column("lease_expires_at", Millis, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=True),  # while an attempt is up
    # The result's callee_type: voice|answeringmachine|fax|unknown once answered, else
    # the last attempt's outcome (busy|noanswer|rejected|unreachable).
    sa.Column("callee_type", sa.String(24), nullable=True),
    sa.Column("first_attempt_at", Millis, nullable=True),
    sa.Column("last_attempt_at", Millis, nullable=True),
    sa.Column("ended_at", Millis, nullable=True),
    sa.Column("duration_s", sa.Integer, nullable=True),  # seconds connected
    sa.Index(None, "campaign_id", "id"),
    sa.Index(None, "sender_id", "id"),
    # The dialer's picks: a campaign's queued calls by due time.
    sa.Index(None, "campaign_id", "state", "next_attempt_at"),
    # Expiry sweeps and counts of live calls (by state).
    sa.Index(None, "state", "expires_at"),
    # The web interface (revision 0003): a campaign's calls of one state, paged by id.
    # Appended to in id order during an upload, so it costs ingest little.
    sa.Index(None, "campaign_id", "state", "id"),
    sqlite_autoincrement=True,
)

# Each campaign's calls counted by state, kept exact in the transactions that change
# them: store/ adds the calls it inserts (``queries.counts``); a trigger on
# ``calls.state`` moves a call from one count to another (revision 0003). The campaign
# pages and the API read these few rows instead of counting a million calls.
campaign_counts = sa.Table(
    "campaign_counts",
    metadata,
    sa.Column("campaign_id", Id, primary_key=True),
    sa.Column("state", sa.String(16), primary_key=True),
    sa.Column("calls", sa.BigInteger, nullable=False),
)

call_attempts = sa.Table(
    "call_attempts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("call_id", Id, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),  # 1 for the first
    sa.Column("worker", sa.String(64), nullable=False),
    sa.Column("started_at", Millis, nullable=False),
    sa.Column("ringing_at", Millis, nullable=True),
    sa.Column("answered_at", Millis, nullable=True),
    sa.Column("ended_at", Millis, nullable=True),
    # answer|busy|noanswer|rejected|unreachable, or "lost" (its worker died unanswered)
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("cause", sa.String(255), nullable=True),  # "SIP 486 Busy Here", "sim: busy"
    sa.Column("callee_type", sa.String(24), nullable=True),
    sa.Index(None, "call_id", "attempt"),
    sqlite_autoincrement=True,
)

call_events = sa.Table(
    "call_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("call_id", Id, nullable=False),
    sa.Column("at", Millis, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=True),
    # queued, dialing, ringing, connected, prompt, dtmf, disconnected, retry, completed,
    # failed, expired, canceled, cancel_requested, lease_lost, ...
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.String(1024), nullable=True),
    sa.Index(None, "call_id", "id"),
    sqlite_autoincrement=True,
)

# The result_url outbox: written in the transaction that makes its call final.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("call_id", Id, nullable=False, unique=True),  # one result per call
    sa.Column("sender_id", Id, nullable=False),
    sa.Column("delivery_key", sa.String(36), nullable=False),  # X-Vxdial-Delivery
    sa.Column("url", sa.String(255), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the form-encoded result, fixed at creation
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Millis, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("delivered_at", Millis, nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", Millis, nullable=True),
    sa.Index(None, "state", "next_attempt_at"),
    sqlite_autoincrement=True,
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", Id, nullable=False),
    sa.Column("at", Millis, nullable=False),
    sa.Column("status", sa.Integer, nullable=True),  # the HTTP status, if one came back
    sa.Column("error", sa.String(255), nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Index(None, "delivery_id", "id"),
    sqlite_autoincrement=True,
)

# Process-wide switches and counters shared by every process: "suspended" (the admin's
# global suspend), "dial_slot_at" (where the calls-per-second pacing stands).
system_flags = sa.Table(
    "system_flags",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

campaign_rejections = sa.Table(
    "campaign_rejections",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", Id, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(512), nullable=False),
    sa.Index(None, "campaign_id", "line"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("sender_id", Id, sa.ForeignKey("senders.id"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # NULL while the first request with this key is still running; then the call or
    # campaign it created, written in the same transaction that made it visible.
    sa.Column("resource_id", Id, nullable=True),
    sa.Column("reserved_until", Millis, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.UniqueConstraint("sender_id", "key"),
)


# The calls table's search, by number or message_reference within a campaign: one row
# per (campaign, term, call). Not an index on ``calls``: numbers arrive in random order,
# and a B-tree over them, updated batch by batch, cut SQLite ingest from 155,000 to
# 60,000 lines/s (each batch dirtied a page per line). An uploaded campaign's terms are
# added once, after the upload, in term order (a sequential build: ``queries.search``),
# by a background task or by the first search, whichever comes first;
# ``call_search_built`` lists the campaigns done. Single calls (``default``) add their
# terms as they are queued.
Term = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")
call_search = sa.Table(
    "call_search",
    metadata,
    sa.Column("campaign_id", Id, primary_key=True),
    # Byte order on PostgreSQL: the build sorts a million terms, and a locale's
    # collation sorts several times slower (SQLite compares bytes anyway).
    sa.Column("term", Term, primary_key=True),
    sa.Column("call_id", Id, primary_key=True),
    sqlite_with_rowid=False,
)

call_search_built = sa.Table(
    "call_search_built",
    metadata,
    sa.Column("campaign_id", Id, primary_key=True, autoincrement=False),
    sa.Column("built_at", Millis, nullable=False),
)

# Web interface sessions: the cookie carries a random token, signed; only its SHA-256
# is stored, so a copy of the database opens no session.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("sender_id", Id, sa.ForeignKey("senders.id"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("last_seen_at", Millis, nullable=False),
    sa.Column("expires_at", Millis, nullable=False),
    sa.Index(None, "sender_id"),
    sqlite_autoincrement=True,
)

# What the admin did, from the web interface or the API: who, what, when, from where.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("at", Millis, nullable=False),
    sa.Column("admin", sa.String(128), nullable=False),  # the login that acted
    sa.Column("action", sa.String(64), nullable=False),  # "sender.add", "dialing.suspend", ...
    sa.Column("target", sa.String(255), nullable=True),  # a login, "call 42", ...
    sa.Column("address", sa.String(64), nullable=True),  # the client's IP address
    sa.Column("via", sa.String(16), nullable=False),  # web | api | cli
    sa.Column("detail", sa.String(512), nullable=True),
    sqlite_autoincrement=True,
)
