"""The job worker: finds due jobs, leases them, and drives a bounded number at once.

It starts with the service and first picks up whatever a previous process left: jobs
are resumed from the database, never from memory, so a SIGKILL loses nothing. A lease
(renewed by a heartbeat) keeps two processes from driving one job; a killed process's
leases simply run out.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from trueup.contracts import new_id
from trueup.platform.database import Database
from trueup.platform.logging import get_logger
from trueup.writeback.repository import DueJob, ScheduleRepository
from trueup.writeback.service import JobDriver

log = get_logger(__name__)


class JobWorker:
    """Drives due jobs in the background of one service process."""

    def __init__(
        self,
        database: Database,
        driver: JobDriver,
        *,
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.database = database
        self.driver = driver
        self.owner = driver.owner
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_heartbeat = 0.0

    @staticmethod
    def new_owner() -> str:
        """A fresh identity for this process's leases."""
        return new_id()

    def wake(self) -> None:
        """Look for due jobs now (a job was just recorded or requeued)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="writeback-jobs")

    async def stop(self) -> None:
        """Stop driving jobs and hand their leases back, so a restart resumes them at once.

        A job cancelled mid-request is left in its last committed phase, as after a crash.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        with contextlib.suppress(Exception):
            async with self.database.transaction() as session:
                await ScheduleRepository(session).release_all(self.owner)

    async def run_until_idle(self, timeout: float = 30.0) -> None:
        """Wait until no job is running or due (tests and scripts)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            async with self.database.transaction() as session:
                pending = await ScheduleRepository(session).count()
            if not pending and not self._running:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("writeback jobs still pending")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - self._last_heartbeat > self.lease.total_seconds() / 3:
                    await self._heartbeat()
                    self._last_heartbeat = loop.time()
                for due in await self._claim():
                    task = asyncio.create_task(self._drive(due), name=f"job-{due.job_id}")
                    self._running[due.job_id] = task
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writeback worker loop failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()

    async def _claim(self) -> list[DueJob]:
        free = self.concurrency - len(self._running)
        if free <= 0:
            return []
        now = datetime.now(UTC)
        claimed: list[DueJob] = []
        async with self.database.transaction() as session:
            schedule = ScheduleRepository(session)
            for due in await schedule.due(now, free, set(self._running)):
                if await schedule.claim(due.job_id, self.owner, now, self.lease):
                    claimed.append(due)
        return claimed

    async def _heartbeat(self) -> None:
        if not self._running:
            return
        async with self.database.transaction() as session:
            await ScheduleRepository(session).renew(
                list(self._running), self.owner, datetime.now(UTC), self.lease
            )

    async def _drive(self, due: DueJob) -> None:
        try:
            await self.driver.drive(due.tenant_id, due.job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The job's lease runs out and it is picked up again from its last phase.
            log.exception("writeback job attempt crashed", job_id=due.job_id)
        finally:
            self._running.pop(due.job_id, None)
            self._wake.set()
