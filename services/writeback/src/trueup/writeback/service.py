"""Writeback use cases: record a job, retry one, and drive one through its phases.

Recording and retrying run inside the consumer's transaction and never commit. Driving
a job commits once per phase: each commit is the point a crashed process resumes from,
and the only phase whose resume needs the PSA's word is `sending` (see `psa_steps`).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import Envelope, new_id, wrap
from trueup.contracts.envelope import Payload
from trueup.contracts.messages import (
    ApplyWriteback,
    RetryWriteback,
    WritebackApplied,
    WritebackConflict,
    WritebackFailed,
    subject_for,
)
from trueup.platform.database import Database
from trueup.platform.logging import bound_context, get_logger
from trueup.platform.messaging import OutboxRelay, enqueue
from trueup.platform.metrics import WRITEBACK_OUTCOMES
from trueup.psa import (
    PsaAuthError,
    PsaClient,
    PsaConflict,
    PsaError,
    PsaLineItem,
    PsaTransientError,
)
from trueup.writeback.connections import (
    ConnectionRejectedError,
    ConnectionUnavailableError,
    PsaClients,
)
from trueup.writeback.models import Job, Phase, Status
from trueup.writeback.psa_steps import (
    CHANGED,
    SENT,
    StepResult,
    audit_note,
    note_already_written,
    ordered_changes,
    probe_step,
    send_step,
    today,
    wants_note,
)
from trueup.writeback.repository import JobRepository, LeaseLostError, ScheduleRepository
from trueup.writeback.settings import Settings

log = get_logger(__name__)

AUTH_ATTEMPTS = 3

# Worth another attempt later: the PSA or psa_sync may answer then. Anything unexpected
# (a bug, a database hiccup) is retried too, and dead-lettered if it persists.
_TRANSIENT = (
    PsaTransientError,
    ConnectionUnavailableError,
    TimeoutError,
    httpx.TransportError,
    OSError,
)


async def record_job(session: AsyncSession, envelope: Envelope[ApplyWriteback]) -> Job | None:
    """Record the command as a job due now; None when its idempotency key is known."""
    command = envelope.payload
    now = datetime.now(UTC)
    job = Job(
        tenant_id=envelope.tenant_id,
        job_id=new_id(),
        idempotency_key=command.idempotency_key,
        command=command.model_dump(mode="json"),
        correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id,
        psa=command.psa,
        status=Status.ACTIVE.value,
        phase=Phase.RECORDED.value,
        step=0,
        line_item_id=command.line_item_psa_id,
        written_ids=[],
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    if not await JobRepository(session, envelope.tenant_id).add_if_new(job):
        log.info("writeback command repeated; job exists", key=command.idempotency_key)
        return None
    await ScheduleRepository(session).put(job.job_id, job.tenant_id, now)
    return job


async def retry_job(session: AsyncSession, envelope: Envelope[RetryWriteback]) -> bool:
    """Requeue a failed or dead-lettered job from the phase it reached; False otherwise."""
    job = await JobRepository(session, envelope.tenant_id).get(envelope.payload.job_id)
    if job is None or job.status not in (Status.FAILED.value, Status.DEAD_LETTERED.value):
        return False
    now = datetime.now(UTC)
    # A failed job kept the phase it reached, so it resumes there; from `sending` the
    # driver asks the PSA before writing anything.
    job.status = Status.ACTIVE.value
    job.attempts = 0
    job.finished_at = None
    job.updated_at = now
    await ScheduleRepository(session).put(job.job_id, job.tenant_id, now)
    log.info("writeback job requeued", job_id=job.job_id, by=envelope.payload.actor.id)
    return True


class JobDriver:
    """Drives one job from its last committed phase to a final outcome."""

    def __init__(
        self,
        database: Database,
        relay: OutboxRelay,
        clients: PsaClients,
        settings: Settings,
        owner: str,
    ) -> None:
        self.database = database
        self.relay = relay
        self.clients = clients
        self.settings = settings
        self.owner = owner
        self.lease = timedelta(seconds=settings.writeback_lease_seconds)

    async def drive(self, tenant_id: str, job_id: str) -> None:
        """One attempt at a job; on a transient error it is rescheduled with backoff."""
        async with self.database.transaction(tenant_id) as session:
            job = await JobRepository(session, tenant_id).get(job_id)
            if job is None or job.status != Status.ACTIVE.value:
                await ScheduleRepository(session).remove(job_id)
                return
        command = ApplyWriteback.model_validate_json(json.dumps(job.command))
        with bound_context(tenant_id=tenant_id, correlation_id=job.correlation_id, job_id=job_id):
            try:
                await self._advance(job, command)
            except LeaseLostError:
                log.warning("writeback job taken over by another process")
            except PsaConflict:
                # The client re-read the line item just before writing and found it
                # changed since our check: nothing was written.
                await self._conflict_after_refusal(job, command)
            except PsaAuthError as exc:
                # Usually final (a person must fix the connection), but a PSA may answer a
                # transient fault this way (Autotask's zone lookup gives 500 for unknown
                # users): a few attempts, each with credentials asked afresh.
                self.clients.forget(job.tenant_id, command.connection_id)
                if job.attempts + 1 >= min(AUTH_ATTEMPTS, self.settings.writeback_max_attempts):
                    await self._fail(job, command, _public(exc), dead=True)
                else:
                    await self._attempt_failed(job, command, exc)
            except (PsaError, ConnectionRejectedError) as exc:
                if isinstance(exc, _TRANSIENT):
                    await self._attempt_failed(job, command, exc)
                else:
                    await self._fail(job, command, _public(exc), dead=False)
            except Exception as exc:
                if not isinstance(exc, _TRANSIENT):
                    log.exception("writeback job attempt failed unexpectedly")
                await self._attempt_failed(job, command, exc)

    # ------------------------------------------------------------------ phases

    async def _advance(self, job: Job, command: ApplyWriteback) -> None:
        client = await self.clients.client_for(job.tenant_id, command.connection_id)
        resumed_verified = job.phase == Phase.VERIFIED.value
        if job.psa_record_url is None:
            job.psa_record_url = client.contract_audit_url(command.contract_psa_id)
        changes = ordered_changes(command)
        # The line item as this attempt read it in the check, and whether the first step
        # was marked `sending` by this attempt (so it cannot have been sent yet).
        checked: PsaLineItem | None = None
        unsent = False
        if job.phase == Phase.RECORDED.value:
            before = command.expected_quantity
            if command.action == "approve" and command.line_item_psa_id is not None:
                checked = await client.get_line_item(
                    command.contract_psa_id, command.line_item_psa_id
                )
                if command.expected_quantity is not None and checked.quantity != before:
                    await self._conflict(job, command, checked.quantity)
                    return
                before = checked.quantity
            # Checked and about to send the first step, in one commit: resumed from
            # `sending`, the probe finds that step unsent and it is sent then.
            await self._commit(job, phase=Phase.SENDING, quantity_before=before)
            unsent = True
        while job.phase in (Phase.CHECKED.value, Phase.SENDING.value):
            change = changes[job.step]
            step_before = job.quantity_before if job.step == 0 else changes[job.step - 1].quantity
            expected: Decimal | None = None
            if unsent:
                unsent = False
                if command.action == "approve":
                    expected = step_before
            elif job.phase == Phase.SENDING.value:
                # This step may have reached the PSA before a crash or an error.
                probe = await probe_step(
                    client, command, job.line_item_id, change, step_before, job.created_at
                )
                if probe.verdict == SENT and probe.result is not None:
                    log.info("writeback step found already written", step=job.step)
                    await self._step_done(job, len(changes), probe.result)
                    continue
                if probe.verdict == CHANGED:
                    await self._conflict(job, command, probe.found_quantity)
                    return
            else:
                await self._commit(job, phase=Phase.SENDING)
                if job.step == 0 and command.action == "approve":
                    expected = step_before
            result = await send_step(
                client,
                command,
                job.line_item_id,
                change,
                expected_quantity=expected,
                checked=checked if job.step == 0 else None,
            )
            await self._step_done(job, len(changes), result)
        if job.phase == Phase.SENT.value:
            error = await self._verify(client, job, command)
            if error is not None:
                await self._fail(job, command, error, dead=False)
                return
            if not wants_note(client):
                # Verified and reported in one commit: nothing is written in between.
                await self._applied(job, command)
                return
            await self._commit(job, phase=Phase.VERIFIED)
        if job.phase == Phase.VERIFIED.value:
            # A note found in `verified` at the start of an attempt may have been written
            # before a crash or an error: look for it before writing it again.
            if not (resumed_verified and await note_already_written(client, command)):
                title, text = audit_note(command, job.quantity_before)
                note = await client.add_contract_note(command.contract_psa_id, title, text)
                job.written_ids = [*job.written_ids, note.id]
            # Noted and reported commit together.
            await self._applied(job, command)

    async def _step_done(self, job: Job, steps: int, result: StepResult) -> None:
        next_step = job.step + 1
        await self._commit(
            job,
            phase=Phase.SENT if next_step >= steps else Phase.CHECKED,
            step=next_step,
            line_item_id=result.line_item_id,
            written_ids=[*job.written_ids, *result.written_ids],
        )

    async def _verify(self, client: PsaClient, job: Job, command: ApplyWriteback) -> str | None:
        final = ordered_changes(command)[-1]
        if job.line_item_id is None:
            return "no line item to verify"
        item = await client.get_line_item(command.contract_psa_id, job.line_item_id)
        if client.capabilities().deferred_quantity and final.effective_date > today():
            # The PSA bills today's units until the change's date (Autotask's adjustment):
            # nothing to compare yet.
            return None
        if item.quantity != final.quantity:
            return (
                f"verification read quantity {item.quantity} on line item {item.id}, "
                f"expected {final.quantity}"
            )
        return None

    # ------------------------------------------------------------------ outcomes

    async def _conflict_after_refusal(self, job: Job, command: ApplyWriteback) -> None:
        try:
            client = await self.clients.client_for(job.tenant_id, command.connection_id)
            item = await client.get_line_item(command.contract_psa_id, job.line_item_id or "")
        except Exception as exc:
            await self._attempt_failed(job, command, exc)
            return
        await self._conflict(job, command, item.quantity)

    async def _conflict(self, job: Job, command: ApplyWriteback, found: Decimal | None) -> None:
        if job.step > 0:
            expected: Decimal | None = ordered_changes(command)[job.step - 1].quantity
        elif job.quantity_before is not None:
            expected = job.quantity_before
        else:
            expected = command.expected_quantity
        payload = WritebackConflict(
            **self._outcome_fields(job, command),
            expected_quantity=expected if expected is not None else Decimal(0),
            found_quantity=found if found is not None else Decimal(0),
        )
        await self._finish(job, Status.CONFLICT, payload, found_quantity=found)

    async def _applied(self, job: Job, command: ApplyWriteback) -> None:
        payload = WritebackApplied(
            **self._outcome_fields(job, command), written_ids=list(job.written_ids)
        )
        await self._finish(job, Status.APPLIED, payload, written_ids=list(job.written_ids))

    async def _fail(self, job: Job, command: ApplyWriteback, error: str, *, dead: bool) -> None:
        log.warning("writeback job failed", error=error, dead_lettered=dead)
        payload = WritebackFailed(
            **self._outcome_fields(job, command),
            error=error[:2000],
            attempts=job.attempts + 1,
            dead_lettered=dead,
        )
        status = Status.DEAD_LETTERED if dead else Status.FAILED
        await self._finish(job, status, payload, last_error=error[:2000], attempts=job.attempts + 1)

    async def _attempt_failed(self, job: Job, command: ApplyWriteback, exc: BaseException) -> None:
        error = _public(exc)
        attempts = job.attempts + 1
        if attempts >= self.settings.writeback_max_attempts:
            await self._fail(job, command, error, dead=True)
            return
        delay = min(
            self.settings.writeback_retry_base_seconds * 2 ** (attempts - 1),
            self.settings.writeback_retry_max_seconds,
        )
        delay *= random.uniform(0.8, 1.2)  # spread retries of jobs that failed together
        log.info("writeback attempt failed; will retry", error=error[:300], retry_in=delay)
        now = datetime.now(UTC)
        async with self.database.transaction(job.tenant_id) as session:
            await ScheduleRepository(session).hold(job.job_id, self.owner, now, self.lease)
            await self._update(session, job, attempts=attempts, last_error=error[:2000])
            await ScheduleRepository(session).put(
                job.job_id, job.tenant_id, now + timedelta(seconds=delay)
            )

    def _outcome_fields(self, job: Job, command: ApplyWriteback) -> dict[str, Any]:
        changes = ordered_changes(command)
        return {
            "job_id": job.job_id,
            "actor": command.actor,
            "idempotency_key": command.idempotency_key,
            "card_id": command.card_id,
            "action_id": command.action_id,
            "psa": command.psa,
            "contract_psa_id": command.contract_psa_id,
            "line_item_psa_id": job.line_item_id,
            "quantity_before": job.quantity_before,
            "quantity_after": changes[-1].quantity,
            "effective_date": changes[0].effective_date,
            "psa_record_url": job.psa_record_url,
            # What the activity log shows, so its entry reads the same whichever event the
            # audit service receives first.
            "action": command.action,
            "account_id": command.account_id,
            "account_name": command.account_name,
            "service_line": command.product_name,
            "contract_name": command.contract_name,
            "unit_price": command.unit_price,
            "changes": changes,
        }

    async def _finish(self, job: Job, status: Status, payload: Payload, **values: Any) -> None:
        """The final state and the event announcing it, in one transaction."""
        now = datetime.now(UTC)
        envelope = wrap(
            payload,
            tenant_id=job.tenant_id,
            correlation_id=job.correlation_id,
            causation_id=job.causation_id,
        )
        async with self.database.transaction(job.tenant_id) as session:
            schedule = ScheduleRepository(session)
            await schedule.hold(job.job_id, self.owner, now, self.lease)
            if status in (Status.APPLIED, Status.CONFLICT):
                values["phase"] = Phase.REPORTED.value
            # A failed job keeps the phase it reached: a retry resumes from there.
            await self._update(session, job, status=status.value, finished_at=now, **values)
            await enqueue(session, subject_for(type(payload), job.tenant_id), envelope)
            await schedule.remove(job.job_id)
        self.relay.notify()
        WRITEBACK_OUTCOMES.labels(outcome=status.value, psa=job.psa).inc()
        log.info("writeback job finished", outcome=status.value)

    async def _commit(self, job: Job, *, phase: Phase, **values: Any) -> None:
        """Commit the job's progress; fails if another process took the job over."""
        async with self.database.transaction(job.tenant_id) as session:
            await ScheduleRepository(session).hold(
                job.job_id, self.owner, datetime.now(UTC), self.lease
            )
            await self._update(session, job, phase=phase.value, **values)

    @staticmethod
    async def _update(session: AsyncSession, job: Job, **values: Any) -> None:
        values = {**values, "updated_at": datetime.now(UTC)}
        if "psa_record_url" not in values:
            values["psa_record_url"] = job.psa_record_url
        await session.execute(
            sa.update(Job)
            .where(Job.tenant_id == job.tenant_id, Job.job_id == job.job_id)
            .values(**values)
        )
        for name, value in values.items():
            setattr(job, name, value)


def _public(exc: BaseException) -> str:
    """A job's error as people read it: a PSA's own answer (which may quote any page the
    connection's address serves) goes to the log, never into the job or its event."""
    if isinstance(exc, PsaError):
        log.warning("psa call failed", error_type=type(exc).__name__, error=str(exc))
        return f"{type(exc).__name__}: {exc.public_message}"
    return f"{type(exc).__name__}: {exc}"
