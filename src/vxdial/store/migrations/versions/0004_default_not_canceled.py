"""a sender's ``default`` campaign is never canceled: one canceled before is paused

Revision ID: 0004
Revises: 0003

Canceling ``default`` made every later single call end ``canceled`` at once while
queuecall still answered "queued" (issue 12). It can no longer be canceled; one that
was is paused instead, which keeps what its sender asked for (no dialing) and lets the
sender resume it. Its calls that were canceled stay so.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE campaigns SET state = 'paused' WHERE name = 'default' AND state = 'canceled'"
        )
    )


def downgrade() -> None:
    pass  # which paused default campaigns had been canceled is not known
