"""The CSV import wizard's use cases: inspect an upload, commit it, run the import.

Inspect and commit are queries the gateway waits for; the import itself runs from the
`ImportFile` command on a durable consumer, so it survives restarts and scales on lag.
Commit validates the whole file first: a file with bad rows is refused with every row
error (unless the user chose to skip them) and nothing changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import caused_by
from trueup.contracts.envelope import Envelope
from trueup.contracts.ingest import (
    CommitImport,
    CommitOutcome,
    GetImport,
    ImportCountsView,
    ImportList,
    ImportMapping,
    ImportSummary,
    ImportView,
    InspectImport,
    ListImports,
    ListUsage,
    ProfileView,
    RowErrorView,
    UsagePage,
    UsageView,
)
from trueup.contracts.messages import (
    Actor,
    ImportFile,
    ImportFinished,
    ImportStatus,
    UsageRecord,
    UsageSource,
    subject_for,
)
from trueup.platform.broker import QueryFailedError, imports_bucket
from trueup.platform.database import Database
from trueup.platform.logging import get_logger
from trueup.platform.messaging import OutboxRelay, enqueue
from trueup.platform.metrics import IMPORT_ROWS
from trueup.platform.paging import within_page_bytes
from trueup.vendor_ingestion import files
from trueup.vendor_ingestion.models import ImportJob, ImportProfile, RawUsage
from trueup.vendor_ingestion.repository import ImportRepository, ProfileRepository, UsageRepository
from trueup.vendor_ingestion.service import record_usage
from trueup.vendors.csv import (
    ColumnMapping,
    CsvImportError,
    FileUsage,
    ImportResult,
    ValidationReport,
    detect,
    inspect_file,
    read_usage,
)

log = get_logger(__name__)

FINAL = frozenset({"completed", "unchanged", "failed"})
#: Row errors kept on a job and returned in a 422 (all are counted).
MAX_LISTED_ERRORS = 1000


@dataclass
class ImportContext:
    """What the import use cases need from the running service."""

    database: Database
    broker: NatsBroker
    relay: OutboxRelay
    scratch_dir: Path
    usage_batch_size: int = 1000


class _CountingFile(io.FileIO):
    """A file that counts the bytes read from it: the import's progress."""

    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any, /) -> int:
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


# The result of the commit's validation pass, kept for the import that usually follows
# in this same process a moment later, so a big file is read once, not twice. One entry:
# it holds a whole file's usage.
_validated: dict[tuple[str, str], tuple[str, ImportResult]] = {}


def _now() -> datetime:
    return datetime.now(UTC)


def _scratch(context: ImportContext, tenant_id: str, import_id: str) -> Path:
    return context.scratch_dir / tenant_id / f"{import_id}.csv"


def _mapping_digest(mapping: ColumnMapping) -> str:
    canonical = json.dumps(mapping.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _column_mapping(mapping: ImportMapping | dict[str, Any]) -> ColumnMapping:
    data = mapping.model_dump(mode="json") if isinstance(mapping, ImportMapping) else mapping
    try:
        return ColumnMapping.model_validate(data)
    except ValidationError as error:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'mapping'}: {e['msg']}" for e in error.errors()
        )
        raise QueryFailedError(422, "Invalid mapping", reasons) from error


def profile_view(
    profile: ImportProfile, uses: tuple[int, datetime | None] = (0, None)
) -> ProfileView:
    """A profile as the API shows it, with how often and when it was last used."""
    return ProfileView(
        profile_id=profile.profile_id,
        name=profile.name,
        vendor=profile.vendor,
        header_fingerprint=profile.header_fingerprint,
        header_columns=list(profile.header_columns or []),
        mapping=ImportMapping.model_validate(profile.mapping),
        created_at=profile.created_at,
        updated_at=profile.updated_at,
        imports=uses[0],
        last_used_at=uses[1],
    )


def _tidy(quantity: Decimal) -> Decimal:
    """Without the trailing zeros PostgreSQL's NUMERIC(24, 6) adds, and never as 1E+2."""
    if quantity == quantity.to_integral_value():
        return quantity.quantize(Decimal(1))
    return quantity.normalize()


def usage_view(row: RawUsage) -> UsageView:
    return UsageView(
        vendor=row.vendor,
        vendor_account_id=row.vendor_account_id,
        vendor_account_name=row.vendor_account_name,
        sku=row.sku,
        sku_name=row.sku_name,
        quantity=_tidy(row.quantity),
        as_of=row.as_of,
        source=row.source,
    )


# A page of usage ends at a (vendor, vendor account, SKU) key; the next starts after it.
_CURSOR_SEPARATOR = "\x1f"


def _usage_cursor(value: str | None) -> tuple[str, str, str] | None:
    if not value:
        return None
    parts = value.split(_CURSOR_SEPARATOR)
    if len(parts) != 3:
        raise QueryFailedError(400, "Invalid cursor", "use next_cursor from the previous page")
    return parts[0], parts[1], parts[2]


async def list_usage(database: Database, envelope: Envelope[ListUsage]) -> UsagePage:
    """The tenant's current usage, one page at a time in key order."""
    tenant_id, query = envelope.tenant_id, envelope.payload
    async with database.transaction(tenant_id) as session:
        rows = await UsageRepository(session, tenant_id).current_usage(
            vendor=query.vendor,
            vendor_account_id=query.vendor_account_id,
            after=_usage_cursor(query.cursor),
            limit=query.limit + 1,
        )
    items = within_page_bytes([usage_view(row) for row in rows[: query.limit]])
    last = rows[len(items) - 1] if len(rows) > len(items) else None
    return UsagePage(
        items=items,
        next_cursor=_CURSOR_SEPARATOR.join((last.vendor, last.vendor_account_id, last.sku))
        if last is not None
        else None,
    )


def _row_errors(report: ValidationReport) -> list[RowErrorView]:
    return [
        RowErrorView(row=e.row, column=e.column, reason=e.reason, value=e.value)
        for e in report.errors[:MAX_LISTED_ERRORS]
    ]


def job_view(
    job: ImportJob,
    profile: ImportProfile | None = None,
    usage: Sequence[RawUsage] = (),
    usage_total: int = 0,
) -> ImportView:
    return ImportView(
        import_id=job.import_id,
        file_name=job.file_name,
        vendor=job.vendor,
        status=job.status,  # type: ignore[arg-type]
        progress_percent=job.progress_percent,
        size_bytes=job.size_bytes,
        content_sha256=job.content_sha256,
        created_at=job.created_at,
        updated_at=job.updated_at,
        detection=job.detection,
        preview=job.preview,
        suggestion=job.suggestion,
        profile=profile_view(profile) if profile is not None else None,
        mapping=ImportMapping.model_validate(job.mapping) if job.mapping else None,
        skip_invalid_rows=job.skip_invalid_rows,
        counts=ImportCountsView.model_validate(job.counts) if job.counts else None,
        error_count=job.error_count,
        errors=[RowErrorView.model_validate(e) for e in job.errors or []],
        error=job.error,
        unchanged_from=job.unchanged_from,
        usage=[usage_view(row) for row in usage],
        usage_total=usage_total,
        batch_id=job.batch_id,
    )


def _actor_json(actor: Actor | None) -> dict[str, Any] | None:
    return actor.model_dump(mode="json") if actor is not None else None


async def inspect_upload(context: ImportContext, envelope: Envelope[InspectImport]) -> ImportView:
    """Read an uploaded file's first bytes: detection, preview, suggestion, known profile.

    A file that cannot be a usage report (empty, binary, no header) is refused with the
    reason and deleted; the failed job stays visible.
    """
    tenant_id, query = envelope.tenant_id, envelope.payload
    bucket = await imports_bucket(context.broker)
    try:
        size, digest = await files.object_digest(bucket, query.object_name)
    except files.UploadMissingError as error:
        raise QueryFailedError(
            404, "Upload not found", f"no uploaded file {query.import_id}"
        ) from error
    scratch = _scratch(context, tenant_id, query.import_id)
    await files.fetch(bucket, query.object_name, scratch)
    now = _now()
    job = ImportJob(
        tenant_id=tenant_id,
        import_id=query.import_id,
        file_name=query.file_name,
        object_name=query.object_name,
        vendor=query.vendor,
        status="inspected",
        progress_percent=0,
        size_bytes=size,
        content_sha256=digest,
        skip_invalid_rows=False,
        error_count=0,
        actor=_actor_json(query.actor),
        created_at=now,
        updated_at=now,
    )
    try:
        inspection = await asyncio.to_thread(inspect_file, scratch, file_name=query.file_name)
    except CsvImportError as error:
        job.status, job.error = "failed", str(error)
        async with context.database.transaction(tenant_id) as session:
            await ImportRepository(session, tenant_id).add(job)
        await files.discard(bucket, query.object_name, scratch)
        raise QueryFailedError(422, "Unreadable file", str(error)) from error
    found = inspection.as_dict()
    job.detection = found["detection"]  # type: ignore[assignment]
    job.preview = found["preview"]  # type: ignore[assignment]
    job.suggestion = found["suggestion"]  # type: ignore[assignment]
    async with context.database.transaction(tenant_id) as session:
        profile = await ProfileRepository(session, tenant_id).matching(
            inspection.detection.header_fingerprint, query.vendor
        )
        if profile is not None:
            job.profile_id = profile.profile_id
            job.vendor = job.vendor or profile.vendor
        await ImportRepository(session, tenant_id).add(job)
    return job_view(job, profile)


async def _import_and_profile(
    session: AsyncSession, tenant_id: str, import_id: str
) -> tuple[ImportJob, ImportProfile | None]:
    """The tenant's import and the profile it was read with; 404 for any other id."""
    job = await ImportRepository(session, tenant_id).get(import_id)
    if job is None:
        raise QueryFailedError(404, "Import not found", f"no import {import_id}")
    profile = (
        await ProfileRepository(session, tenant_id).get(job.profile_id) if job.profile_id else None
    )
    return job, profile


async def commit_import(context: ImportContext, envelope: Envelope[CommitImport]) -> CommitOutcome:
    """Validate the whole file with the mapping; queue the import if it may go ahead."""
    tenant_id, command = envelope.tenant_id, envelope.payload
    async with context.database.transaction(tenant_id) as session:
        job, profile = await _import_and_profile(session, tenant_id, command.import_id)
    if job.status != "inspected":
        raise QueryFailedError(
            409, "Import already committed", f"import {job.import_id} is {job.status}"
        )
    if command.mapping is not None:
        mapping = _column_mapping(command.mapping)
    elif profile is not None:
        mapping = _column_mapping(profile.mapping)
    elif job.suggestion and job.suggestion.get("mapping"):
        mapping = _column_mapping(job.suggestion["mapping"])
    else:
        raise QueryFailedError(
            422, "Mapping required", "no saved profile matches this file; send a mapping"
        )
    vendor = command.vendor or job.vendor or (profile.vendor if profile else None)
    if not vendor:
        raise QueryFailedError(
            422, "Vendor required", "name the vendor this file comes from (e.g. pax8)"
        )
    bucket = await imports_bucket(context.broker)
    scratch = _scratch(context, tenant_id, job.import_id)
    try:
        await files.fetch(bucket, job.object_name, scratch)
    except files.UploadMissingError as error:
        raise QueryFailedError(
            410, "Upload expired", "the uploaded file is gone; upload it again"
        ) from error
    try:
        result = await asyncio.to_thread(_read, scratch, mapping, job.file_name, None)
    except CsvImportError as error:
        raise QueryFailedError(422, "Invalid mapping", str(error)) from error
    report = result.report
    if not report.ok and not command.skip_invalid_rows:
        return CommitOutcome(
            accepted=False,
            job=job_view(job, profile),
            error_count=report.error_count,
            invalid_rows=report.invalid_rows,
            errors=_row_errors(report),
        )
    _validated.clear()
    _validated[(tenant_id, job.import_id)] = (_mapping_digest(mapping), result)
    async with context.database.transaction(tenant_id) as session:
        imports = ImportRepository(session, tenant_id)
        job = await imports.get(command.import_id, for_update=True)  # type: ignore[assignment]
        if job is None or job.status != "inspected":
            raise QueryFailedError(409, "Import already committed", command.import_id)
        job.status = "queued"
        job.vendor = vendor
        job.mapping = mapping.model_dump(mode="json")
        job.skip_invalid_rows = command.skip_invalid_rows
        job.save_profile_as = command.save_profile_as
        job.updated_at = _now()
        if command.save_profile_as:
            saved = await save_profile(
                session, tenant_id, vendor, command.save_profile_as, mapping, result
            )
            job.profile_id = saved.profile_id
            profile = saved
        # The command goes through this service's outbox: the caller hears "accepted"
        # only once the job and its command are committed together.
        order = ImportFile(
            import_id=job.import_id,
            object_name=job.object_name,
            file_name=job.file_name,
            vendor=vendor,
        )
        await enqueue(session, subject_for(ImportFile, tenant_id), caused_by(envelope, order))
    context.relay.notify()
    return CommitOutcome(
        accepted=True,
        job=job_view(job, profile),
        error_count=report.error_count,
        invalid_rows=report.invalid_rows,
        errors=_row_errors(report),
    )


async def save_profile(
    session: Any,
    tenant_id: str,
    vendor: str,
    name: str,
    mapping: ColumnMapping,
    result: ImportResult,
) -> ImportProfile:
    """Create or update the vendor's profile of this name with the mapping and header."""
    profiles = ProfileRepository(session, tenant_id)
    now = _now()
    profile = await profiles.by_name(vendor, name)
    fingerprint = result.detection.header_fingerprint
    if profile is None:
        profile = ImportProfile(
            tenant_id=tenant_id,
            profile_id=hashlib.sha256(f"{tenant_id}:{vendor}:{name}".encode()).hexdigest()[:32],
            vendor=vendor,
            name=name,
            header_fingerprint=fingerprint,
            header_columns=list(result.detection.columns),
            mapping=mapping.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
        )
        await profiles.add(profile)
    else:
        profile.header_fingerprint = fingerprint
        profile.header_columns = list(result.detection.columns)
        profile.mapping = mapping.model_dump(mode="json")
        profile.updated_at = now
    return profile


def _read(
    path: Path, mapping: ColumnMapping, file_name: str, progress: _CountingFile | None
) -> ImportResult:
    detection = detect(path, file_name=file_name)
    if progress is None:
        return read_usage(path, mapping, detection, file_name=file_name)
    return read_usage(progress, mapping, detection, file_name=file_name)


async def run_import(context: ImportContext, envelope: Envelope[ImportFile]) -> None:
    """Import a committed file: aggregate, replace the vendor's usage, emit events.

    Idempotent: a redelivered command finds the job finished and does nothing, and the
    same bytes read with the same mapping are recognised by their key and change nothing.
    """
    tenant_id, order = envelope.tenant_id, envelope.payload
    async with context.database.transaction(tenant_id) as session:
        job = await ImportRepository(session, tenant_id).get(order.import_id, for_update=True)
        if job is None or job.status in FINAL or job.mapping is None:
            return
        job.status, job.progress_percent, job.updated_at = "running", 0, _now()
    mapping = _column_mapping(job.mapping)
    vendor = job.vendor or order.vendor or "unknown"
    key = f"file:{vendor}:{job.content_sha256}:{_mapping_digest(mapping)}"
    bucket = await imports_bucket(context.broker)
    scratch = _scratch(context, tenant_id, job.import_id)

    async with context.database.transaction(tenant_id) as session:
        earlier = await UsageRepository(session, tenant_id).batch_seen(key)
        earlier_job = (
            await ImportRepository(session, tenant_id).by_batch(earlier) if earlier else None
        )
    if earlier is not None:
        await _finish(
            context,
            envelope,
            job,
            status="unchanged",
            unchanged_from=(earlier_job.import_id if earlier_job else None),
        )
        await files.discard(bucket, job.object_name, scratch)
        return

    cached = _validated.pop((tenant_id, job.import_id), None)
    if cached is not None and cached[0] == _mapping_digest(mapping):
        result = cached[1]
    else:
        try:
            await files.fetch(bucket, job.object_name, scratch)
            result = await _read_with_progress(context, tenant_id, job, scratch, mapping)
        except (CsvImportError, files.UploadMissingError) as error:
            await _finish(context, envelope, job, status="failed", error=str(error))
            await files.discard(bucket, job.object_name, scratch)
            return
    if not result.report.ok and not job.skip_invalid_rows:
        await _finish(
            context,
            envelope,
            job,
            status="failed",
            error="the file has invalid rows",
            result=result,
        )
        await files.discard(bucket, job.object_name, scratch)
        return

    accounts = list(dict.fromkeys(item.vendor_account_id for item in result.usage))
    try:
        records = [_usage_record(item, job.created_at) for item in result.usage]
        async with context.database.transaction(tenant_id) as session:
            recorded = await record_usage(
                session,
                tenant_id=tenant_id,
                vendor=vendor,
                source=UsageSource.CSV,
                records=records,
                idempotency_key=key,
                replaces_accounts=accounts,
                batch_size=context.usage_batch_size,
                correlation_id=envelope.correlation_id,
            )
            await _finish_in(
                session,
                envelope,
                job,
                status="completed",
                result=result,
                batch_id=recorded.batch_id,
            )
    except (_UnstorableUsageError, ValidationError) as error:
        # The reader let through usage the contracts refuse. Raising would only have
        # the command redelivered into the same error and leave the job running for
        # good; nothing was stored (the transaction rolled back), so the job fails.
        reason = (
            str(error)
            if isinstance(error, _UnstorableUsageError)
            else f"the usage cannot be stored ({_reasons(error)}); nothing was imported"
        )
        log.error(
            "import failed: usage cannot be stored",
            import_id=job.import_id,
            error=reason,
            exc_info=True,
        )
        await _finish(context, envelope, job, status="failed", error=reason)
        await files.discard(bucket, job.object_name, scratch)
        return
    context.relay.notify()
    IMPORT_ROWS.labels(tenant=tenant_id).inc(result.counts.rows_imported)
    await files.discard(bucket, job.object_name, scratch)
    log.info(
        "import completed",
        import_id=job.import_id,
        vendor=vendor,
        rows=result.counts.rows_imported,
        pairs=len(records),
    )


class _UnstorableUsageError(Exception):
    """Usage a file reported that is not a valid `UsageRecord`; says which pair and why."""


def _usage_record(item: FileUsage, as_of: datetime) -> UsageRecord:
    try:
        return UsageRecord(
            vendor_account_id=item.vendor_account_id,
            vendor_account_name=item.vendor_account_name,
            sku=item.sku,
            sku_name="",
            quantity=item.quantity,
            as_of=as_of,
        )
    except ValidationError as error:
        raise _UnstorableUsageError(
            f"the usage of vendor account {_shortened(item.vendor_account_id)!r} and SKU"
            f" {_shortened(item.sku)!r} cannot be stored ({_reasons(error)}); nothing was"
            " imported"
        ) from error


def _reasons(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()
    )


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _read_with_progress(
    context: ImportContext, tenant_id: str, job: ImportJob, scratch: Path, mapping: ColumnMapping
) -> ImportResult:
    handle = _CountingFile(scratch, "r")
    size = max(job.size_bytes, 1)

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            # Reading is most of the work; storing takes the last tenth.
            percent = min(90, int(handle.bytes_read * 90 / size))
            async with context.database.transaction(tenant_id) as session:
                await ImportRepository(session, tenant_id).set_progress(
                    job.import_id, percent, _now()
                )

    reporter = asyncio.create_task(report_progress())
    try:
        return await asyncio.to_thread(_read, scratch, mapping, job.file_name, handle)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        handle.close()


async def _finish(
    context: ImportContext,
    envelope: Envelope[ImportFile],
    job: ImportJob,
    *,
    status: str,
    error: str | None = None,
    unchanged_from: str | None = None,
    result: ImportResult | None = None,
) -> None:
    async with context.database.transaction(envelope.tenant_id) as session:
        await _finish_in(
            session,
            envelope,
            job,
            status=status,
            error=error,
            unchanged_from=unchanged_from,
            result=result,
        )
    context.relay.notify()


async def _finish_in(
    session: Any,
    envelope: Envelope[ImportFile],
    job: ImportJob,
    *,
    status: str,
    error: str | None = None,
    unchanged_from: str | None = None,
    result: ImportResult | None = None,
    batch_id: str | None = None,
) -> None:
    tenant_id = envelope.tenant_id
    stored = await ImportRepository(session, tenant_id).get(job.import_id, for_update=True)
    assert stored is not None
    stored.status = status
    stored.progress_percent = 100
    stored.error = error
    stored.unchanged_from = unchanged_from
    stored.batch_id = batch_id
    stored.updated_at = _now()
    if result is not None:
        stored.counts = result.counts.as_dict()
        stored.error_count = result.report.error_count
        stored.errors = [e.as_dict() for e in result.report.errors[:MAX_LISTED_ERRORS]]
    counts = result.counts if result is not None else None
    finished = ImportFinished(
        import_id=job.import_id,
        vendor=stored.vendor or "",
        file_name=job.file_name,
        status=ImportStatus(status),
        rows_read=counts.rows_read if counts else 0,
        rows_imported=counts.rows_imported if counts else 0,
        rows_skipped=counts.rows_skipped_invalid if counts else 0,
        totals_rows_ignored=counts.totals_rows_ignored if counts else 0,
        error=error,
        actor=Actor.model_validate(stored.actor) if stored.actor else None,
    )
    await enqueue(session, subject_for(ImportFinished, tenant_id), caused_by(envelope, finished))


async def list_imports(context: ImportContext, envelope: Envelope[ListImports]) -> ImportList:
    """The latest imports that stored usage, with how much of it is still current."""
    tenant_id, query = envelope.tenant_id, envelope.payload
    async with context.database.transaction(tenant_id, readonly=True) as session:
        found = await ImportRepository(session, tenant_id).with_usage(query.vendor, query.limit)
    return ImportList(
        items=[
            ImportSummary(
                import_id=job.import_id,
                file_name=job.file_name,
                vendor=job.vendor or "",
                status=job.status,  # type: ignore[arg-type]
                created_at=job.created_at,
                records=rows,
            )
            for job, rows in found
        ]
    )


async def get_import(context: ImportContext, envelope: Envelope[GetImport]) -> ImportView:
    """One import of the caller's tenant (404 for any other tenant's id)."""
    tenant_id, query = envelope.tenant_id, envelope.payload
    async with context.database.transaction(tenant_id) as session:
        job, profile = await _import_and_profile(session, tenant_id, query.import_id)
        usage: Sequence[RawUsage] = ()
        total = 0
        if job.batch_id:
            repository = UsageRepository(session, tenant_id)
            usage = await repository.current_usage(batch_id=job.batch_id, limit=query.usage_limit)
            total = await repository.count_usage(batch_id=job.batch_id)
    return job_view(job, profile, usage, total)


__all__ = [
    "ImportContext",
    "commit_import",
    "get_import",
    "inspect_upload",
    "job_view",
    "list_imports",
    "profile_view",
    "run_import",
    "usage_view",
]
