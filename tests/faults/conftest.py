"""Fixtures of the fault suite (tests/faults/support.py holds the parts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.support import PrivatePostgres


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of this test's own, which it may stop and start."""
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()
