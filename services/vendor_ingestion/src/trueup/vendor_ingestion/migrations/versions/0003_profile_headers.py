"""Import profiles keep the header columns they recognise, and imports are found by the
profile they used (the profiles screen counts them).

Profiles saved before this keep an empty list until they are next saved.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_profiles") as batch:
        batch.add_column(
            sa.Column("header_columns", sa.JSON, nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_index("ix_import_jobs_profile", "import_jobs", ["tenant_id", "profile_id"])


def downgrade() -> None:
    op.drop_index("ix_import_jobs_profile", table_name="import_jobs")
    with op.batch_alter_table("import_profiles") as batch:
        batch.drop_column("header_columns")
