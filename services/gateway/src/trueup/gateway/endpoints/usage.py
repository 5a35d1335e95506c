"""Current usage per vendor, vendor account and SKU, as vendor_ingestion holds it; and the
removal of a vendor's or an import's usage, which reconciliation carries out."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trueup.contracts.ingest import GetImport, ImportView, ListUsage, UsagePage
from trueup.contracts.recon import RemoveUsage, UsageRemoval
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Admin, Viewer
from trueup.gateway.problems import ProblemError

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])


@router.get("", response_model=UsagePage, summary="Current usage")
async def list_usage(
    request: Request,
    principal: Viewer,
    vendor: Annotated[str | None, Query(max_length=100)] = None,
    vendor_account_id: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> UsagePage:
    """The latest quantity per (vendor, vendor account, SKU), one page at a time."""
    return await ask(
        request,
        principal,
        ListUsage(vendor=vendor, vendor_account_id=vendor_account_id, limit=limit, cursor=cursor),
        UsagePage,
    )


class RemovalRequest(BaseModel):
    """Whose usage to remove: a vendor's, or one import's. A dry run only counts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"import_id": "0193a1c2d3e4f5a6b7c8d9e0f1a2b3c4", "dry_run": True},
                {"vendor": "pax8", "dry_run": False, "expected_records": 42},
            ]
        },
    )

    vendor: str | None = Field(default=None, min_length=1, max_length=200)
    import_id: str | None = Field(default=None, min_length=1, max_length=64)
    dry_run: bool = Field(default=True, description="Count what would be removed; change nothing.")
    expected_records: int | None = Field(
        default=None,
        ge=0,
        description="Required unless dry_run: the record count the dry run showed.",
    )

    @model_validator(mode="after")
    def one_source(self) -> Self:
        if (self.vendor is None) == (self.import_id is None):
            raise ValueError("name either a vendor or an import_id")
        if not self.dry_run and self.expected_records is None:
            raise ValueError("expected_records is required unless dry_run")
        return self


@router.post(
    "/removals",
    response_model=UsageRemoval,
    summary="Remove a vendor's or an import's usage",
    responses={
        404: {"description": "No such import, or no usage to remove"},
        409: {"description": "The usage changed since the dry run, or the import stored none"},
    },
)
async def remove_usage(request: Request, principal: Admin, body: RemovalRequest) -> UsageRemoval:
    """Count (dry run) or remove the usage, recompute the cards it fed, record who did it.

    A real run must send `expected_records` from the dry run; if the count is no longer
    that, nothing is removed (409).
    """
    vendor, batch_id, label = body.vendor, None, ""
    if body.import_id is not None:
        job = await ask(
            request, principal, GetImport(import_id=body.import_id, usage_limit=0), ImportView
        )
        if job.batch_id is None or job.vendor is None:
            raise ProblemError(
                409,
                "Import stored no usage",
                f"import {job.file_name} is {job.status}"
                + (
                    f"; its usage is that of import {job.unchanged_from}"
                    if job.unchanged_from
                    else ""
                ),
            )
        vendor, batch_id, label = job.vendor, job.batch_id, job.file_name
    assert vendor is not None
    return await ask(
        request,
        principal,
        RemoveUsage(
            vendor=vendor,
            batch_id=batch_id,
            import_id=body.import_id,
            label=label,
            dry_run=body.dry_run,
            expected_records=body.expected_records,
            actor=principal.actor(),
        ),
        UsageRemoval,
    )
