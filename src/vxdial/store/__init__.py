"""Storage: the only package that speaks SQL (SQLAlchemy 2 Core, Alembic migrations).

Other packages use ``Store`` and the records it returns.
"""

from vxdial.store.store import Credentials, KeyRecord, Store

__all__ = ["Credentials", "KeyRecord", "Store"]
