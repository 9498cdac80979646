"""Storage: the only package that speaks SQL (SQLAlchemy 2 Core, Alembic migrations).

Other packages use ``Store`` and the records it returns.
"""

from vxdial.store.batching import GroupCommit
from vxdial.store.migrate import Migration
from vxdial.store.store import AuditEntry, CallToQueue, Credentials, KeyRecord, Store, WebSession

__all__ = [
    "AuditEntry",
    "CallToQueue",
    "Credentials",
    "GroupCommit",
    "KeyRecord",
    "Migration",
    "Store",
    "WebSession",
]
