"""Two mapping thresholds instead of one: `suggestion_threshold` (what is pre-selected for
a person) and `auto_apply_threshold` (what maps itself with nobody looking).

A tenant's single `auto_map_threshold` did both, so lowering what a person is offered
also mapped look-alikes by itself. Its value is carried into both, within their new
bounds: pre-selection starts at 50 (a lower value becomes 50); auto-apply starts at 90,
and below that it is off rather than anything a look-alike could reach. Downgrading
writes the pre-selection value back, the one that never maps anything by itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from trueup.platform.migrations import every_tenant

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "auto_map_threshold"
SUGGESTION = "suggestion_threshold"
AUTO_APPLY = "auto_apply_threshold"
MIN_SUGGESTION = Decimal(50)
MIN_AUTO_APPLY = Decimal(90)

_SETTINGS = sa.table(
    "tenant_settings", sa.column("tenant_id", sa.String), sa.column("settings", sa.JSON)
)


def upgrade() -> None:
    _rewrite(_split)


def downgrade() -> None:
    _rewrite(_join)


def _split(settings: dict[str, Any]) -> dict[str, Any]:
    if OLD not in settings:
        return settings
    value = settings.pop(OLD)
    if value is None:
        return {**settings, SUGGESTION: None, AUTO_APPLY: None}
    threshold = Decimal(str(value))
    return {
        **settings,
        SUGGESTION: str(max(threshold, MIN_SUGGESTION)),
        AUTO_APPLY: str(threshold) if threshold >= MIN_AUTO_APPLY else None,
    }


def _join(settings: dict[str, Any]) -> dict[str, Any]:
    if SUGGESTION not in settings and AUTO_APPLY not in settings:
        return settings
    value = settings.pop(SUGGESTION, None)
    settings.pop(AUTO_APPLY, None)
    return {**settings, OLD: value}


def _rewrite(change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite every tenant's stored settings (one row per tenant)."""
    connection = op.get_bind()
    with every_tenant("tenant_settings"):
        rows = connection.execute(sa.select(_SETTINGS.c.tenant_id, _SETTINGS.c.settings)).all()
        for tenant_id, stored in rows:
            if not isinstance(stored, dict):
                continue
            changed = change(dict(stored))
            if changed != stored:
                connection.execute(
                    _SETTINGS.update()
                    .where(_SETTINGS.c.tenant_id == tenant_id)
                    .values(settings=changed)
                )
