"""Retention: 14 days unless a tenant chooses otherwise, with one exact boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import structlog

from tests.audit.helpers import JANE, at, event, mapping_changed, stored
from tests.support import eventually, running_service
from trueup.audit import service
from trueup.audit.main import build
from trueup.audit.retention import purge_expired, purge_tenant
from trueup.audit.settings import Settings
from trueup.contracts import wrap
from trueup.contracts.messages import ListActivity, SetActivityRetention
from trueup.platform.service import ServiceRuntime

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=14)
TICK = timedelta(microseconds=1)


async def _record_at(audit: ServiceRuntime, tenant: str, *moments: datetime) -> list[str]:
    ids: list[str] = []
    async with audit.database.transaction(tenant) as session:
        for moment in moments:
            envelope = at(event(mapping_changed(), tenant), moment)
            await service.record_event(session, envelope, now=NOW)
            ids.append(envelope.event_id)
    return ids


async def _visible(audit: ServiceRuntime, tenant: str, now: datetime) -> set[str]:
    async with audit.database.transaction(tenant) as session:
        page = await service.list_activity(
            session, wrap(ListActivity(), tenant_id=tenant), now=now, default_days=14
        )
    return {item.entry_id for item in page.items}


class TestRetentionBoundary:
    async def test_an_entry_exactly_at_the_cutoff_is_kept_and_one_microsecond_older_goes(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        _older, exact, newer = await _record_at(audit, tenant, CUTOFF - TICK, CUTOFF, CUTOFF + TICK)

        # Queries apply the boundary before the purge has run...
        assert await _visible(audit, tenant, NOW) == {exact, newer}

        # ...and the purge deletes exactly what queries stopped showing.
        result = await purge_tenant(audit.database, tenant, now=NOW, default_days=14, batch_size=10)
        assert (result.purged, result.cutoff) == (1, CUTOFF)
        assert {row.entry_id for row in await stored(audit, tenant)} == {exact, newer}

        # One microsecond later the entry at the old cutoff is past retention too.
        assert await _visible(audit, tenant, NOW + TICK) == {newer}

    async def test_an_offset_timestamp_is_compared_as_the_same_instant(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        plus_two = timezone(timedelta(hours=2))
        (kept,) = await _record_at(audit, tenant, CUTOFF.astimezone(plus_two))
        (gone,) = await _record_at(audit, tenant, (CUTOFF - TICK).astimezone(plus_two))
        await purge_tenant(audit.database, tenant, now=NOW, default_days=14, batch_size=10)
        assert [row.entry_id for row in await stored(audit, tenant)] == [kept]
        assert gone != kept


class TestPerTenantRetention:
    async def test_a_tenant_retention_applies_to_it_alone_and_is_itself_logged(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        short, default = tenant_ids
        three_days_ago = NOW - timedelta(days=3)
        await _record_at(audit, short, three_days_ago)
        (kept_by_default,) = await _record_at(audit, default, three_days_ago)

        async with audit.database.transaction(short) as session:
            answer = await service.set_retention(
                session,
                wrap(SetActivityRetention(days=2, actor=JANE), tenant_id=short),
                now=NOW,
                default_days=14,
            )
        assert answer.days == 2

        results = {
            r.tenant_id: r
            for r in await purge_expired(audit.database, now=NOW, default_days=14, batch_size=10)
        }
        assert results[short].purged == 1
        assert results[short].cutoff == NOW - timedelta(days=2)
        assert results[default].purged == 0

        (change,) = await stored(audit, short)
        assert (change.action_type, change.actor_id) == ("settings", JANE.id)
        assert change.summary == ("Activity log: retention set to 2 days (was 14)")
        assert [row.entry_id for row in await stored(audit, default)] == [kept_by_default]


class TestPurgeJob:
    async def test_purges_in_batches_and_logs_how_many_and_up_to_when(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        old = [CUTOFF - timedelta(hours=h) for h in range(1, 8)]
        await _record_at(audit, tenant, *old, NOW)
        with structlog.testing.capture_logs() as logs:
            result = await purge_tenant(
                audit.database, tenant, now=NOW, default_days=14, batch_size=3
            )
        assert result.purged == 7
        assert len(await stored(audit, tenant)) == 1
        purged_logs = [line for line in logs if line["event"] == "purged activity entries"]
        assert purged_logs == [
            {
                "event": "purged activity entries",
                "log_level": "info",
                "purged": 7,
                "older_than": CUTOFF.isoformat(),
                "retention_days": 14,
            }
        ]

    async def test_the_running_service_purges_periodically(
        self, audit_settings: Settings, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        settings = audit_settings.model_copy(update={"purge_interval_seconds": 0.2})
        async with running_service(build, settings) as (audit, _app):
            real_now = datetime.now(UTC)
            expired, fresh = await _record_at(
                audit, tenant, real_now - timedelta(days=15), real_now - timedelta(days=1)
            )

            async def only_fresh() -> bool:
                return [row.entry_id for row in await stored(audit, tenant)] == [fresh]

            # Nothing here calls the purge: the job the service started on_start does.
            await eventually(only_fresh, what="the expired entry purged by the job")
            assert expired != fresh
