"""The operator's decisions about tenants, kept in the operator scope of the log.

A deleted tenant's own entries go with the rest of its data; what remains is the
operator's record that it was deleted (and when it was created, its invite links issued,
and when it was suspended or resumed), each naming the operator who acted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.audit import service
from trueup.audit.models import metadata
from trueup.contracts.envelope import Envelope, utcnow
from trueup.contracts.messages import (
    TenantCreated,
    TenantDeleted,
    TenantInviteIssued,
    TenantStatusChanged,
)
from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import OPERATOR_SCOPE, consume_tenant_deletions


def register(runtime: ServiceRuntime) -> None:
    database = runtime.database

    async def record_deletion(session: AsyncSession, envelope: Envelope[TenantDeleted]) -> None:
        # The same transaction as the deletion: the tenant's entries never vanish without
        # the record that says why.
        await database.act_for_tenant(session, OPERATOR_SCOPE)
        await service.record_operator_event(session, envelope, now=utcnow())

    async def record(session: AsyncSession, envelope: Envelope[Any]) -> None:
        await service.record_operator_event(session, envelope, now=utcnow())

    consume_tenant_deletions(runtime, metadata, after=record_deletion)
    # Under the operator's scope, like the deletion: records about a tenant, not of it.
    # A consumer per type: each has its own subject, and a durable consumer one filter.
    for name, model in (
        ("tenant-status", TenantStatusChanged),
        ("tenant-created", TenantCreated),
        ("tenant-invites", TenantInviteIssued),
    ):
        runtime.consume_once(name, {model: record}, scope=OPERATOR_SCOPE)
