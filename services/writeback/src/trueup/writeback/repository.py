"""Every query writeback makes. Job queries take the tenant; the schedule is cross-tenant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.writeback.models import Job, ScheduledJob


class LeaseLostError(Exception):
    """Another process took this job over (our lease ran out): stop driving it."""


class JobRepository:
    """Jobs of one tenant."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def get(self, job_id: str) -> Job | None:
        return await self.session.scalar(
            sa.select(Job).where(Job.tenant_id == self.tenant_id, Job.job_id == job_id)
        )

    async def get_by_key(self, idempotency_key: str) -> Job | None:
        return await self.session.scalar(
            sa.select(Job).where(
                Job.tenant_id == self.tenant_id, Job.idempotency_key == idempotency_key
            )
        )

    async def add_if_new(self, job: Job) -> bool:
        """Insert `job`; False when a job with its idempotency key already exists."""
        if job.tenant_id != self.tenant_id:
            raise ValueError("job belongs to another tenant")
        if await self.get_by_key(job.idempotency_key) is not None:
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(job)
                await self.session.flush()
        except IntegrityError:
            # A concurrent delivery of the same key (another command envelope) won.
            return False
        return True

    async def list_all(self) -> list[Job]:
        result = await self.session.scalars(
            sa.select(Job).where(Job.tenant_id == self.tenant_id).order_by(Job.created_at)
        )
        return list(result)


@dataclass(frozen=True, slots=True)
class DueJob:
    job_id: str
    tenant_id: str


class ScheduleRepository:
    """The work list of the job worker, across tenants (ids and times only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, job_id: str, tenant_id: str, due_at: datetime) -> None:
        """Make the job due at `due_at`, releasing any lease on it."""
        existing = await self.session.get(ScheduledJob, job_id)
        if existing is None:
            self.session.add(ScheduledJob(job_id=job_id, tenant_id=tenant_id, due_at=due_at))
        else:
            existing.due_at = due_at
            existing.lease_owner = None
            existing.lease_until = None
        await self.session.flush()

    async def remove(self, job_id: str) -> None:
        await self.session.execute(sa.delete(ScheduledJob).where(ScheduledJob.job_id == job_id))

    async def due(self, now: datetime, limit: int, exclude: set[str]) -> list[DueJob]:
        """Jobs due now whose lease is free or expired, oldest first."""
        query = (
            sa.select(ScheduledJob.job_id, ScheduledJob.tenant_id)
            .where(
                ScheduledJob.due_at <= now,
                sa.or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now),
            )
            .order_by(ScheduledJob.due_at)
            .limit(limit + len(exclude))
        )
        rows = (await self.session.execute(query)).all()
        return [DueJob(r.job_id, r.tenant_id) for r in rows if r.job_id not in exclude][:limit]

    async def claim(self, job_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take the job's lease if it is free or expired (one atomic UPDATE)."""
        result = await self.session.execute(
            sa.update(ScheduledJob)
            .where(
                ScheduledJob.job_id == job_id,
                sa.or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=now + lease)
        )
        return _rowcount(result) == 1

    async def hold(self, job_id: str, owner: str, now: datetime, lease: timedelta) -> None:
        """Extend our lease; raise `LeaseLostError` if another process holds the job now.

        Called in the same transaction as every phase change of the job, so a process
        whose lease ran out cannot commit progress over the new owner's.
        """
        result = await self.session.execute(
            sa.update(ScheduledJob)
            .where(ScheduledJob.job_id == job_id, ScheduledJob.lease_owner == owner)
            .values(lease_until=now + lease)
        )
        if _rowcount(result) != 1:
            raise LeaseLostError(job_id)

    async def renew(
        self, job_ids: Iterable[str], owner: str, now: datetime, lease: timedelta
    ) -> None:
        """Heartbeat: extend our leases on the jobs still being driven.

        Only those: a job whose driving task died must be let go, so its lease runs out.
        """
        ids = list(job_ids)
        if not ids:
            return
        await self.session.execute(
            sa.update(ScheduledJob)
            .where(ScheduledJob.lease_owner == owner, ScheduledJob.job_id.in_(ids))
            .values(lease_until=now + lease)
        )

    async def release_all(self, owner: str) -> None:
        """Give back every lease (graceful stop), so a restart resumes at once."""
        await self.session.execute(
            sa.update(ScheduledJob)
            .where(ScheduledJob.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def count(self) -> int:
        return int(await self.session.scalar(sa.select(sa.func.count(ScheduledJob.job_id))) or 0)


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
