"""Room on each page of `usage` and `cards` for updates in place (PostgreSQL).

An import rewrites the same (vendor account, SKU) rows and their cards again and again,
and none of those updates changes an indexed column. On full pages PostgreSQL writes each
new row version elsewhere and adds an index entry for it; with room left on the page it
updates in place (a heap-only tuple), which writes a fraction of the WAL. SQLite has no
such setting.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 70
TABLES = ("usage", "cards")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
