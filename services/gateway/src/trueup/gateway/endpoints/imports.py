"""The CSV import wizard: upload, commit with a mapping, follow the import; saved profiles.

The gateway never reads the file: it streams the upload into the JetStream object store
(the multipart parser spools it to disk, and nats-py reads it back in chunks) and asks
vendor_ingestion to do the rest.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from pydantic import BaseModel, ConfigDict, Field

from trueup.contracts import new_id
from trueup.contracts.ingest import (
    CommitImport,
    CommitOutcome,
    DeleteProfile,
    GetImport,
    ImportList,
    ImportMapping,
    ImportView,
    InspectImport,
    ListImports,
    ListProfiles,
    ProfileDeleted,
    ProfileList,
    ProfileView,
    RenameProfile,
)
from trueup.gateway.endpoints.common import ask
from trueup.gateway.identity.dependencies import Admin, Billing, Viewer
from trueup.gateway.identity.text import SafeText
from trueup.gateway.problems import PROBLEM_JSON, ProblemError
from trueup.platform.broker import imports_bucket

router = APIRouter(prefix="/api/v1", tags=["imports"])

# Inspecting copies the file and reads its first 64 KiB; committing validates every row,
# which for a million-row file takes seconds, so these wait longer than other queries.
INSPECT_TIMEOUT_SECONDS = 120.0
COMMIT_TIMEOUT_SECONDS = 300.0


class CommitRequest(BaseModel):
    """How to import an inspected file."""

    model_config = ConfigDict(extra="forbid")

    mapping: ImportMapping | None = Field(
        default=None,
        description="The column mapping; omit it to use the recognised profile's mapping.",
    )
    vendor: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The vendor the file comes from (tags the service lines it feeds).",
    )
    skip_invalid_rows: bool = Field(
        default=False,
        description="Import the valid rows and skip the invalid ones (they are counted).",
    )
    save_profile_as: SafeText | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Save the mapping as this vendor's profile under this name.",
    )


_COMMIT_EXAMPLES: dict[str, Any] = {
    "column_value": {
        "summary": "A column holds the quantity (one row per account and SKU)",
        "value": {
            "vendor": "pax8",
            "mapping": {
                "account_column": "Customer Name",
                "sku_column": "SKU",
                "quantity_mode": "column_value",
                "quantity_column": "Quantity",
            },
            "save_profile_as": "Pax8 billing export",
        },
    },
    "sum_per_sku": {
        "summary": "Invoice lines add up per account and SKU",
        "value": {
            "vendor": "distributor",
            "mapping": {
                "account_column": "Company",
                "account_id_column": "Company Id",
                "sku_column": "Product",
                "quantity_mode": "sum_per_sku",
                "quantity_column": "Qty",
                "price_column": "Unit Price",
            },
        },
    },
    "row_count": {
        "summary": "One row per device, only active ones",
        "value": {
            "vendor": "ninjaone",
            "mapping": {
                "account_column": "Site",
                "sku_column": "Device Class",
                "quantity_mode": "row_count",
                "filters": [{"column": "Status", "operator": "equals", "values": ["Active"]}],
            },
            "skip_invalid_rows": True,
        },
    },
    "distinct_count": {
        "summary": "Distinct users per tenant, one product",
        "value": {
            "vendor": "microsoft",
            "mapping": {
                "account_column": "Tenant",
                "sku_constant": "M365 mailbox",
                "quantity_mode": "distinct_count",
                "distinct_column": "User Principal Name",
            },
        },
    },
    "profile": {
        "summary": "Use the saved profile that recognised the file",
        "value": {},
    },
}


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportView,
    summary="Upload a usage file",
    responses={422: {"description": "Empty, binary or headerless file"}},
)
async def upload(
    request: Request,
    principal: Billing,
    file: Annotated[UploadFile, File(description="The vendor's usage export (CSV, TSV...)")],
    vendor: Annotated[str | None, Form(min_length=1, max_length=100)] = None,
) -> ImportView:
    """Store the file and return detection, preview, suggested mapping and known profile."""
    broker: NatsBroker = request.app.state.broker
    import_id = new_id()
    object_name = f"{principal.tenant_id}/{import_id}"
    bucket = await imports_bucket(broker)
    # nats-py reads the spooled upload in chunks on a worker thread.
    info = await bucket.put(object_name, file.file)  # type: ignore[arg-type]
    return await ask(
        request,
        principal,
        InspectImport(
            import_id=import_id,
            object_name=object_name,
            file_name=file.filename or "upload.csv",
            vendor=vendor,
            size_bytes=int(info.size or 0),
            actor=principal.actor(),
        ),
        ImportView,
        timeout=INSPECT_TIMEOUT_SECONDS,
    )


@router.post(
    "/imports/{import_id}/commit",
    status_code=202,
    response_model=ImportView,
    summary="Commit an upload with a mapping",
    responses={
        422: {"description": "Rows are invalid: `errors` lists file, row, column and reason"},
        409: {"description": "Already committed"},
    },
)
async def commit(
    request: Request,
    principal: Billing,
    import_id: str,
    body: Annotated[CommitRequest, Body(openapi_examples=_COMMIT_EXAMPLES)],
) -> Any:
    """Validate every row; queue the import (202), or refuse with every row error (422)."""
    outcome = await ask(
        request,
        principal,
        CommitImport(
            import_id=import_id,
            mapping=body.mapping,
            vendor=body.vendor,
            skip_invalid_rows=body.skip_invalid_rows,
            save_profile_as=body.save_profile_as,
            actor=principal.actor(),
        ),
        CommitOutcome,
        timeout=COMMIT_TIMEOUT_SECONDS,
    )
    if not outcome.accepted:
        file_name = outcome.job.file_name
        raise ProblemError(
            422,
            "Invalid rows",
            _invalid_rows_detail(outcome),
            type_="https://trueup.dev/problems/invalid-rows",
            errors=[
                {**error.model_dump(mode="json"), "file_name": file_name}
                for error in outcome.errors
            ],
        )
    return JSONResponse(outcome.job.model_dump(mode="json"), status_code=202)


def _invalid_rows_detail(outcome: CommitOutcome) -> str:
    """The file's first row error, where it is, and how many there are.

    Written as the file's other errors are ("usage.csv, row 7, column 'Seats': ..."), so
    a client that shows only `detail` still says which file, row and column to fix.
    """
    file_name = outcome.job.file_name
    counts = f"{outcome.invalid_rows} rows are invalid ({outcome.error_count} errors)"
    if outcome.errors:
        first = outcome.errors[0]
        column = f", column {first.column!r}" if first.column is not None else ""
        summary = f"{file_name}, row {first.row}{column}: {first.reason}; in all, {counts}"
    else:
        summary = f"{file_name}: {counts}"
    return f"{summary}; fix the file or commit again with skip_invalid_rows"


@router.get("/imports", response_model=ImportList, summary="Imports that stored usage")
async def list_imports(
    request: Request,
    principal: Viewer,
    vendor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ImportList:
    """The latest imports that stored usage, newest first, each with how many of its usage
    records are still current (a later file of the vendor replaces them)."""
    return await ask(request, principal, ListImports(vendor=vendor, limit=limit), ImportList)


@router.get("/imports/{import_id}", response_model=ImportView, summary="An import's progress")
async def get_import(
    request: Request,
    principal: Viewer,
    import_id: str,
    usage_limit: Annotated[int, Query(ge=0, le=10000)] = 1000,
) -> ImportView:
    """Status, counts, row errors, and the usage the import produced."""
    return await ask(
        request,
        principal,
        GetImport(import_id=import_id, usage_limit=usage_limit),
        ImportView,
    )


@router.get("/import-profiles", response_model=ProfileList, summary="Saved import profiles")
async def list_profiles(
    request: Request,
    principal: Viewer,
    vendor: Annotated[str | None, Query(max_length=100)] = None,
) -> ProfileList:
    """Each vendor's saved mappings, the header that recognises its files, and how many
    imports used each (and when last)."""
    return await ask(
        request,
        principal,
        ListProfiles(vendor=vendor),
        ProfileList,
    )


class ProfileChange(BaseModel):
    """A profile's new name (unique within the tenant)."""

    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=200)


@router.patch(
    "/import-profiles/{profile_id}",
    response_model=ProfileView,
    summary="Rename an import profile",
    responses={404: {"description": "No such profile"}, 409: {"description": "Name taken"}},
)
async def rename_profile(
    request: Request, principal: Admin, profile_id: str, body: ProfileChange
) -> ProfileView:
    """Rename a saved profile; another profile of the tenant with the name is a 409."""
    return await ask(
        request,
        principal,
        RenameProfile(profile_id=profile_id, name=body.name, actor=principal.actor()),
        ProfileView,
    )


@router.delete(
    "/import-profiles/{profile_id}",
    status_code=204,
    summary="Delete an import profile",
    responses={404: {"description": "No such profile"}},
)
async def delete_profile(request: Request, principal: Admin, profile_id: str) -> Response:
    """Its files are no longer recognised; imports made with it and their usage stay."""
    await ask(
        request,
        principal,
        DeleteProfile(profile_id=profile_id, actor=principal.actor()),
        ProfileDeleted,
    )
    return Response(status_code=204)


__all__ = ["PROBLEM_JSON", "router"]
