"""Every query on the preferences table; each takes the tenant and the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.gateway.models import Preference
from trueup.platform.database import upsert_insert


def _key(tenant_id: str, subject_id: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        Preference.tenant_id == tenant_id,
        Preference.subject_id == subject_id,
        Preference.name == name,
    )


async def get_preference(
    session: AsyncSession, tenant_id: str, subject_id: str, name: str
) -> dict[str, Any] | None:
    return await session.scalar(
        sa.select(Preference.value).where(_key(tenant_id, subject_id, name))
    )


async def save_preference(
    session: AsyncSession, tenant_id: str, subject_id: str, name: str, value: dict[str, Any]
) -> None:
    """Insert or replace: two devices saving at once both succeed, the later one wins."""
    insert = upsert_insert(session.get_bind().dialect.name)
    now = datetime.now(UTC)
    statement = insert(Preference).values(
        tenant_id=tenant_id, subject_id=subject_id, name=name, value=value, updated_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "subject_id", "name"],
            set_={"value": statement.excluded.value, "updated_at": now},
        )
    )


async def delete_preference(
    session: AsyncSession, tenant_id: str, subject_id: str, name: str
) -> None:
    await session.execute(sa.delete(Preference).where(_key(tenant_id, subject_id, name)))
