"""The operator's decisions about tenants (created, invite issued, suspended, resumed,
deleted) are kept once each in the operator scope, naming the operator who acted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.audit.helpers import at, event, publish, stored
from tests.support import eventually
from trueup.audit.models import Entry
from trueup.contracts import messages as m
from trueup.platform.service import ServiceRuntime
from trueup.platform.tenants import OPERATOR_SCOPE

ADA = m.Actor(kind="system", id="operator:ada@trueup.example", name="ada@trueup.example")
BOB = m.Actor(kind="system", id="operator:bob", name="bob")


class TestOperatorRecords:
    async def test_each_decision_is_one_entry_naming_its_operator(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
        decisions = [
            m.TenantCreated(tenant_name="Acme Managed Services", actor=ADA),
            m.TenantInviteIssued(role="admin", expires_at=start + timedelta(hours=72), actor=ADA),
            m.TenantInviteIssued(role="admin", expires_at=start + timedelta(hours=96), actor=BOB),
            m.TenantStatusChanged(status="suspended", actor=BOB),
            m.TenantDeleted(tenant_name="Acme Managed Services", actor=ADA),
        ]
        envelopes = [
            at(event(payload, tenant), start + timedelta(minutes=minute))
            for minute, payload in enumerate(decisions)
        ]
        for envelope in envelopes:
            await publish(audit, envelope)
        # A creation delivered again (the relay published it twice) is kept once.
        await publish(audit, envelopes[0], msg_id="again")

        async def all_there() -> list[Entry] | None:
            rows = await stored(audit, OPERATOR_SCOPE)
            ours = [row for row in rows if row.account_id == tenant]
            return ours if len(ours) >= len(envelopes) else None

        rows = await eventually(all_there, what="the operator's records")
        assert [(r.event_type, r.actor_kind, r.actor_id, r.actor_name) for r in rows] == [
            (m.TenantCreated.message_type, "system", ADA.id, ADA.name),
            (m.TenantInviteIssued.message_type, "system", ADA.id, ADA.name),
            (m.TenantInviteIssued.message_type, "system", BOB.id, BOB.name),
            (m.TenantStatusChanged.message_type, "system", BOB.id, BOB.name),
            (m.TenantDeleted.message_type, "system", ADA.id, ADA.name),
        ]
        assert [r.summary for r in rows[:3]] == [
            f"Tenant {tenant} (Acme Managed Services) created",
            f"Admin invite link for tenant {tenant} issued (works once, until "
            "2026-03-04 09:00 UTC)",
            f"Admin invite link for tenant {tenant} issued (works once, until "
            "2026-03-05 09:00 UTC)",
        ]
        assert {r.action_type for r in rows} == {"tenant"}
        # None of it is the tenant's own (its entries go with its data).
        assert await stored(audit, tenant) == []
