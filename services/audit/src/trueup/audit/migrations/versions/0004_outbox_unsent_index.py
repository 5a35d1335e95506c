"""An index of the outbox rows not yet published.

The relay asks for the oldest unsent rows on every wake; without this index the query
walked every row ever published, so a wake cost more the longer the service had run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from trueup.platform.migrations import drop_unsent_outbox_index, index_unsent_outbox_rows

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    index_unsent_outbox_rows()


def downgrade() -> None:
    drop_unsent_outbox_index()
