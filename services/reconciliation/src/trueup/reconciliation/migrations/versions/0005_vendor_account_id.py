"""One name for a vendor's account id: `vendor_account_id`, as usage has always called it.

Account mappings and the usage contributions stored on each card called it
`vendor_account`. The column is renamed, and the key inside every stored contribution
is rewritten, so a card read after the upgrade has the shape the code now writes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from trueup.platform.migrations import every_tenant

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "vendor_account"
NEW = "vendor_account_id"


def upgrade() -> None:
    with op.batch_alter_table("account_mappings") as batch:
        batch.alter_column(OLD, new_column_name=NEW)
    _rename_contribution_key(OLD, NEW)


def downgrade() -> None:
    _rename_contribution_key(NEW, OLD)
    with op.batch_alter_table("account_mappings") as batch:
        batch.alter_column(NEW, new_column_name=OLD)


def _rename_contribution_key(old: str, new: str) -> None:
    """Rewrite the key in the stored JSON text, in one statement.

    Matching `"<old>":` is exact: a quote inside a JSON string value is escaped, so no
    value can hold that text.
    """
    before, after = f'"{old}":', f'"{new}":'
    text = "contributions::text" if op.get_bind().dialect.name == "postgresql" else "contributions"
    rewritten = f"replace({text}, '{before}', '{after}')"
    if text != "contributions":
        rewritten += "::json"
    with every_tenant("cards"):
        op.execute(
            f"UPDATE cards SET contributions = {rewritten} WHERE {text} LIKE '%{before}%'"
        )
