"""Storage: the only package that speaks SQL (SQLAlchemy 2 Core, Alembic migrations).

Other packages use ``Store`` and the records it returns.
"""

from vxdial.store.batching import GroupCommit
from vxdial.store.store import CallToQueue, Credentials, KeyRecord, Store

__all__ = ["CallToQueue", "Credentials", "GroupCommit", "KeyRecord", "Store"]
