"""Reconciliation's tables: the PSA projection, usage, mappings, service lines, cards,
actions and billing settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import create_outbox_and_inbox, enable_tenant_isolation
from trueup.platform.types import DecimalType, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "accounts",
    "contracts",
    "line_items",
    "service_lines",
    "usage",
    "account_mappings",
    "service_mappings",
    "cards",
    "actions",
    "tenant_settings",
)


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table('account_mappings',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('vendor', sa.String(length=200), nullable=False),
    sa.Column('vendor_account', sa.String(length=500), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=True),
    sa.Column('excluded', sa.Boolean(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'vendor', 'vendor_account')
    )
    op.create_table('accounts',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('identifier', sa.String(length=200), nullable=False),
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('suppress_new_revenue', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'account_id')
    )
    op.create_table('actions',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('action_id', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('card_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('actor', sa.JSON(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('result_state', sa.String(length=20), nullable=False),
    sa.Column('created_at', UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'action_id'),
    sa.UniqueConstraint('tenant_id', 'idempotency_key')
    )
    op.create_table('cards',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('card_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('actioned_on', sa.Date(), nullable=True),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('account_name', sa.String(length=500), nullable=False),
    sa.Column('service_line_id', sa.String(length=200), nullable=True),
    sa.Column('service_line', sa.String(length=500), nullable=False),
    sa.Column('contract_id', sa.String(length=200), nullable=True),
    sa.Column('contract_name', sa.String(length=500), nullable=False),
    sa.Column('line_item_id', sa.String(length=200), nullable=True),
    sa.Column('vendors', sa.String(length=500), nullable=False),
    sa.Column('psa_quantity', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('vendor_quantity', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('target_quantity', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('delta', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('unit_price', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('unit_cost', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('billing_cycle', sa.String(length=20), nullable=False),
    sa.Column('revenue_change', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('cost_change', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('profit_change', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('mrr_change', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('usage_as_of', UtcDateTime(timezone=True), nullable=True),
    sa.Column('auto_approval', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('last_job_id', sa.String(length=64), nullable=True),
    sa.Column('planned_effective_date', sa.Date(), nullable=True),
    sa.Column('contributions', sa.JSON(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'card_id')
    )
    op.create_index('ix_cards_list', 'cards', ['tenant_id', 'hidden', 'service_line', 'account_name', 'card_id'], unique=False)
    op.create_table('contracts',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('contract_id', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('billing_cycle', sa.String(length=20), nullable=False),
    sa.Column('bill_in_advance', sa.Boolean(), nullable=False),
    sa.Column('proration_allowed', sa.Boolean(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('connection_id', sa.String(length=64), nullable=False),
    sa.Column('psa', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'contract_id')
    )
    op.create_table('line_items',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('line_item_id', sa.String(length=200), nullable=False),
    sa.Column('contract_id', sa.String(length=200), nullable=False),
    sa.Column('product_id', sa.String(length=200), nullable=False),
    sa.Column('product_name', sa.String(length=500), nullable=False),
    sa.Column('quantity', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('unit_price', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('unit_cost', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=True),
    sa.Column('cancelled_date', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'line_item_id')
    )
    op.create_table('service_lines',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('service_line_id', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('product_id', sa.String(length=200), nullable=False),
    sa.Column('vendor_tag', sa.String(length=200), nullable=True),
    sa.Column('sales_unit', sa.String(length=50), nullable=False),
    sa.Column('catalogue_unit_price', DecimalType(precision=24, scale=6), nullable=True),
    sa.Column('catalogue_unit_cost', DecimalType(precision=24, scale=6), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'service_line_id')
    )
    op.create_table('service_mappings',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('vendor', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=500), nullable=False),
    sa.Column('service_line_id', sa.String(length=200), nullable=False),
    sa.Column('factor', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('rounding', sa.String(length=10), nullable=False),
    sa.Column('excluded', sa.Boolean(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'vendor', 'sku', 'service_line_id')
    )
    op.create_table('tenant_settings',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('last_sync_at', UtcDateTime(timezone=True), nullable=True),
    sa.Column('active_accounts', sa.Integer(), nullable=False),
    sa.Column('cards_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('usage',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('vendor', sa.String(length=200), nullable=False),
    sa.Column('vendor_account_id', sa.String(length=500), nullable=False),
    sa.Column('sku', sa.String(length=500), nullable=False),
    sa.Column('vendor_account_name', sa.String(length=500), nullable=False),
    sa.Column('sku_name', sa.String(length=500), nullable=False),
    sa.Column('quantity', DecimalType(precision=24, scale=6), nullable=False),
    sa.Column('as_of', UtcDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('psa_account_hint', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'vendor', 'vendor_account_id', 'sku')
    )
    for table in TENANT_TABLES:
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
