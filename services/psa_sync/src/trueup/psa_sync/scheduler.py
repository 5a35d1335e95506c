"""Runs due syncs (on their interval, and right away when asked) and refreshes of the
contracts writebacks changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trueup.platform.database import Database
from trueup.platform.logging import bound_context, get_logger
from trueup.psa_sync.models import SyncSchedule
from trueup.psa_sync.repository import ScheduleRepository
from trueup.psa_sync.service import Syncer

log = get_logger(__name__)


class SyncScheduler:
    """Claims due rows of `sync_schedule` and runs them; several replicas can share it,
    since a claim is a conditional update only one of them wins. The service runs
    `run_due` every scheduler tick, and at once when a command wakes it."""

    def __init__(self, database: Database, syncer: Syncer, *, interval: timedelta) -> None:
        self.database = database
        self.syncer = syncer
        self.interval = interval

    async def run_due(self) -> int:
        """Run every sync, and every refresh of contracts, that is due now; returns how
        many ran."""
        ran = 0
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            due = list(await ScheduleRepository(session).due(now))
        for row in due:
            if row.refresh_at is not None and row.refresh_at <= now:
                ran += await self._refresh(row)
            if row.next_run_at > now:
                continue
            async with self.database.transaction() as session:
                claimed = await ScheduleRepository(session).claim(row, now + self.interval)
            if not claimed:
                continue
            with bound_context(tenant_id=row.tenant_id):
                try:
                    await self.syncer.run(row.tenant_id, row.connection_id, full=row.full_requested)
                except Exception:
                    # Not a PSA problem (those become the connection's status): log and let
                    # the next interval try again.
                    log.exception("sync crashed", connection_id=row.connection_id)
            ran += 1
        return ran

    async def _refresh(self, row: SyncSchedule) -> int:
        async with self.database.transaction() as session:
            claimed = await ScheduleRepository(session).claim_refresh(row)
        if not claimed:
            return 0
        with bound_context(tenant_id=row.tenant_id):
            try:
                await self.syncer.refresh(row.tenant_id, row.connection_id)
            except Exception:
                # The next sync reads the same changes.
                log.exception("contract refresh crashed", connection_id=row.connection_id)
        return 1
