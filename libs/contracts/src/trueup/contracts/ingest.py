"""Messages of the import wizard, webhooks and connectors (vendor_ingestion).

They join the catalogue in `messages.py`; subjects follow the same rules. The gateway
asks, vendor_ingestion answers: inspect an uploaded file, commit it with a mapping, read
an import's progress and result, read current usage, and manage saved profiles and
webhook endpoints and connectors. The commit itself runs as the `ImportFile` command.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, JsonValue

from trueup.contracts import subjects
from trueup.contracts.envelope import Payload
from trueup.contracts.messages import Actor, MessageSpec
from trueup.contracts.types import Amount

#: The JetStream object store bucket uploaded files wait in between upload and commit.
IMPORTS_BUCKET = "imports"
#: Uploads nobody commits disappear after this; committed files are deleted at once.
IMPORTS_TTL_SECONDS = 24 * 60 * 60

QuantityModeName = Literal["column_value", "row_count", "distinct_count", "sum_per_sku"]
FilterOperatorName = Literal["equals", "not_equals", "in", "not_in", "contains", "not_empty"]
ImportState = Literal[
    "inspected",  # uploaded and read; waiting for a commit
    "queued",  # committed; the import command is on its way
    "running",
    "completed",
    "unchanged",  # the same bytes were imported before: nothing changed
    "failed",  # the file could not be imported; nothing changed
]

T = subjects.ANY_TENANT


class RowFilterSpec(Payload):
    """Keep only rows whose `column` matches, e.g. Status equals Active."""

    column: str = Field(min_length=1, max_length=500)
    operator: FilterOperatorName = "equals"
    values: list[str] = Field(default_factory=list, max_length=1000)


class ImportMapping(Payload):
    """Which columns of a file make usage, and how quantities are counted.

    The vendor account is `account_id_column` when given, else `account_column`. The SKU
    comes from `sku_column`, or is `sku_constant` for a file about one product. Quantity
    modes: `column_value` (one row per account and SKU), `sum_per_sku` (rows add up),
    `row_count` (one row per device or user), `distinct_count` (distinct values of
    `distinct_column`).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_column": "Customer Name",
                    "sku_column": "SKU",
                    "quantity_mode": "column_value",
                    "quantity_column": "Quantity",
                },
                {
                    "account_column": "Company",
                    "account_id_column": "Company Id",
                    "sku_column": "Product",
                    "quantity_mode": "sum_per_sku",
                    "quantity_column": "Qty",
                    "price_column": "Unit Price",
                },
                {
                    "account_column": "Site",
                    "sku_column": "Device Class",
                    "quantity_mode": "row_count",
                    "filters": [{"column": "Status", "operator": "equals", "values": ["Active"]}],
                },
                {
                    "account_column": "Tenant",
                    "sku_constant": "M365 mailbox",
                    "quantity_mode": "distinct_count",
                    "distinct_column": "User Principal Name",
                },
            ]
        }
    )

    account_column: str = Field(min_length=1, max_length=500)
    account_id_column: str | None = None
    sku_column: str | None = None
    sku_constant: str | None = Field(default=None, min_length=1, max_length=200)
    quantity_mode: QuantityModeName = "column_value"
    quantity_column: str | None = None
    distinct_column: str | None = None
    price_column: str | None = None
    cost_column: str | None = None
    date_column: str | None = None
    filters: list[RowFilterSpec] = Field(default_factory=list, max_length=50)


# --- read models shared by several replies -----------------------------------------


class ProfileView(Payload):
    """A saved import profile: a vendor's mapping, recognised by its header fingerprint."""

    profile_id: str
    name: str
    vendor: str
    header_fingerprint: str
    header_columns: list[str] = Field(default_factory=list)
    """The header the profile recognises, as last saved ([] for profiles saved before
    TrueUp kept it)."""
    mapping: ImportMapping
    created_at: datetime
    updated_at: datetime
    imports: int = 0
    """Completed (or unchanged) imports that used the profile."""
    last_used_at: datetime | None = None


class ImportCountsView(Payload):
    """What happened to the rows of a file; `rows_read` is the sum of the others but blank."""

    rows_read: int = 0
    rows_imported: int = 0
    rows_skipped_invalid: int = 0
    totals_rows_ignored: int = 0
    rows_filtered_out: int = 0
    blank_rows: int = 0


class RowErrorView(Payload):
    """One bad row or cell: 1-based row as a spreadsheet shows it, column, and why."""

    row: int
    column: str | None = None
    reason: str
    value: str | None = None


class UsageView(Payload):
    """Current usage of one vendor SKU by one vendor account."""

    vendor: str
    vendor_account_id: str
    vendor_account_name: str = ""
    sku: str
    sku_name: str = ""
    quantity: Amount
    as_of: datetime
    source: str


class ImportView(Payload):
    """An import job: what was detected, how it was committed, and how it went."""

    import_id: str
    file_name: str
    vendor: str | None = None
    status: ImportState
    progress_percent: int = Field(default=0, ge=0, le=100)
    size_bytes: int = 0
    content_sha256: str = ""
    created_at: datetime
    updated_at: datetime
    detection: dict[str, JsonValue] | None = None
    preview: dict[str, JsonValue] | None = None
    suggestion: dict[str, JsonValue] | None = None
    profile: ProfileView | None = None
    """The saved profile whose header fingerprint matches this file, if any."""
    mapping: ImportMapping | None = None
    skip_invalid_rows: bool = False
    counts: ImportCountsView | None = None
    error_count: int = 0
    errors: list[RowErrorView] = Field(default_factory=list)
    error: str | None = None
    """Why the whole file failed (empty, binary, no header, a mapping naming no column)."""
    unchanged_from: str | None = None
    """The earlier import of the same bytes, when this one changed nothing."""
    usage: list[UsageView] = Field(default_factory=list)
    usage_total: int = 0
    batch_id: str | None = None
    """The usage batch the import stored (None until it completes, or if it changed
    nothing): what removing the import's usage removes."""


# --- queries -----------------------------------------------------------------------


class InspectImport(Payload):
    """Read an uploaded file: detection, preview, suggested mapping, recognised profile."""

    message_type: ClassVar[str] = "query.ingest.inspect.v1"

    import_id: str = Field(min_length=1, max_length=64)
    object_name: str = Field(min_length=1, max_length=300)
    file_name: str = Field(min_length=1, max_length=500)
    vendor: str | None = Field(default=None, min_length=1, max_length=100)
    size_bytes: int = Field(ge=0)
    actor: Actor | None = None


class CommitImport(Payload):
    """Validate an inspected file with a mapping; if it passes, queue the import.

    Without a mapping, the recognised profile's mapping is used, else the suggestion.
    """

    message_type: ClassVar[str] = "query.ingest.commit.v1"

    import_id: str = Field(min_length=1, max_length=64)
    mapping: ImportMapping | None = None
    vendor: str | None = Field(default=None, min_length=1, max_length=100)
    skip_invalid_rows: bool = False
    save_profile_as: str | None = Field(default=None, min_length=1, max_length=200)
    actor: Actor | None = None


class CommitOutcome(Payload):
    """Accepted (the import is queued), or refused with every row error."""

    accepted: bool
    job: ImportView
    error_count: int = 0
    invalid_rows: int = 0
    errors: list[RowErrorView] = Field(default_factory=list)


class GetImport(Payload):
    """One import job of the caller's tenant, with up to `usage_limit` usage rows."""

    message_type: ClassVar[str] = "query.ingest.import.v1"

    import_id: str = Field(min_length=1, max_length=64)
    usage_limit: int = Field(default=1000, ge=0, le=10000)


class ListImports(Payload):
    """The tenant's latest imports that stored usage, newest first."""

    message_type: ClassVar[str] = "query.ingest.imports.v1"

    vendor: str | None = None
    limit: int = Field(default=50, ge=1, le=500)


class ImportSummary(Payload):
    """An import that stored usage, and how many of its usage records are still current."""

    import_id: str
    file_name: str
    vendor: str
    status: ImportState
    created_at: datetime
    records: int
    """Usage rows of the import no later file replaced (what removing it would remove)."""


class ImportList(Payload):
    items: list[ImportSummary]


class ListUsage(Payload):
    """Current usage per vendor, vendor account and SKU, one page at a time."""

    message_type: ClassVar[str] = "query.ingest.usage.v1"

    vendor: str | None = None
    vendor_account_id: str | None = None
    limit: int = Field(default=500, ge=1, le=5000)
    cursor: str | None = None


class UsagePage(Payload):
    items: list[UsageView]
    next_cursor: str | None = None


class ListProfiles(Payload):
    """The tenant's saved import profiles, optionally for one vendor."""

    message_type: ClassVar[str] = "query.ingest.profiles.v1"

    vendor: str | None = None


class ProfileList(Payload):
    items: list[ProfileView]


class RenameProfile(Payload):
    """Rename a saved profile; names are unique within the tenant."""

    message_type: ClassVar[str] = "query.ingest.profiles.rename.v1"

    profile_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    actor: Actor


class DeleteProfile(Payload):
    """Delete a saved profile; imports that used it keep their mapping."""

    message_type: ClassVar[str] = "query.ingest.profiles.delete.v1"

    profile_id: str = Field(min_length=1, max_length=64)
    actor: Actor


class ProfileDeleted(Payload):
    profile_id: str


class WebhookSecretView(Payload):
    """A signing secret of an endpoint; the secret itself is shown only when created."""

    secret_id: str
    created_at: datetime
    expires_at: datetime | None = None


class WebhookEndpointView(Payload):
    """Where a vendor posts signed usage: `POST /webhooks/{endpoint_id}` on vendor_ingestion."""

    endpoint_id: str
    vendor: str
    name: str
    path: str
    created_at: datetime
    secrets: list[WebhookSecretView] = Field(default_factory=list)


class ListWebhookEndpoints(Payload):
    message_type: ClassVar[str] = "query.ingest.webhooks.v1"


class WebhookEndpointList(Payload):
    items: list[WebhookEndpointView]


class CreateWebhookEndpoint(Payload):
    """A new endpoint for a vendor, with its first signing secret."""

    message_type: ClassVar[str] = "query.ingest.webhooks.create.v1"

    vendor: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(default="", max_length=200)
    actor: Actor | None = None


class RotateWebhookSecret(Payload):
    """A new signing secret; the current ones stay valid for `grace_seconds` (rotation)."""

    message_type: ClassVar[str] = "query.ingest.webhooks.rotate.v1"

    endpoint_id: str = Field(min_length=1, max_length=120)
    grace_seconds: int = Field(default=24 * 60 * 60, ge=0, le=30 * 24 * 60 * 60)
    actor: Actor | None = None


class WebhookSecretIssued(Payload):
    """The endpoint and its new secret, shown this once (`whsec_...`)."""

    endpoint: WebhookEndpointView
    secret: str


class DeleteWebhookEndpoint(Payload):
    """Forget an endpoint and its secrets; deliveries to it are refused from then on."""

    message_type: ClassVar[str] = "query.ingest.webhooks.delete.v1"

    endpoint_id: str = Field(min_length=1, max_length=120)
    actor: Actor | None = None


class WebhookEndpointDeleted(Payload):
    endpoint_id: str


ConnectorKindName = Literal["pax8", "ninjaone", "huntress"]
#: Connector kinds are lower-case tags on the wire; a person knows them by these names.
CONNECTOR_NAMES: dict[str, str] = {"pax8": "Pax8", "ninjaone": "NinjaOne", "huntress": "Huntress"}
#: The credential fields each connector kind needs (all strings; `token_url` optional).
CONNECTOR_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "pax8": ("client_id", "client_secret"),
    "ninjaone": ("client_id", "client_secret"),
    "huntress": ("api_key", "api_secret"),
}
#: Between five minutes and a week: more often is a vendor's rate limit, less is stale.
MIN_CONNECTOR_SECONDS = 5 * 60
MAX_CONNECTOR_SECONDS = 7 * 24 * 60 * 60


class ConnectorView(Payload):
    """A connector as people see it: never its credentials, only which ones are stored."""

    connector_id: str
    name: str
    kind: ConnectorKindName
    vendor: str
    base_url: str
    every_seconds: int
    enabled: bool
    credential_fields: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_status: Literal["ok", "failed"] | None = None
    last_error: str | None = None
    last_records: int = 0


class ListConnectors(Payload):
    message_type: ClassVar[str] = "query.ingest.connectors.v1"


class ConnectorList(Payload):
    items: list[ConnectorView]


class SaveConnector(Payload):
    """Create (no `connector_id`) or change a connector; a field left out stays as it is.

    `credentials` replace the stored ones as a whole; they are sealed at once and never
    returned. A changed address is checked against the outbound policy before saving.
    """

    message_type: ClassVar[str] = "query.ingest.connectors.save.v1"

    connector_id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: ConnectorKindName | None = None
    vendor: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    credentials: dict[str, str] | None = Field(default=None, max_length=10)
    every_seconds: int | None = Field(
        default=None, ge=MIN_CONNECTOR_SECONDS, le=MAX_CONNECTOR_SECONDS
    )
    enabled: bool | None = None
    actor: Actor | None = None


class ConnectorRequest(Payload):
    """A connector named by id, for the queries below."""

    connector_id: str = Field(min_length=1, max_length=64)
    actor: Actor | None = None


class DeleteConnector(ConnectorRequest):
    message_type: ClassVar[str] = "query.ingest.connectors.delete.v1"


class CheckConnector(ConnectorRequest):
    """Poll once with the stored configuration and say how it went; nothing is recorded."""

    message_type: ClassVar[str] = "query.ingest.connectors.test.v1"


class RunConnector(ConnectorRequest):
    """Poll now, in the background; the connector's `last_*` fields tell the outcome."""

    message_type: ClassVar[str] = "query.ingest.connectors.run.v1"


class ConnectorDeleted(Payload):
    connector_id: str


class ConnectorTestResult(Payload):
    """Whether the vendor answered; `detail` is in TrueUp's words, never the vendor's body."""

    ok: bool
    detail: str
    records: int = 0


def _query(model: type[Payload], name: str, reply: type[Payload]) -> MessageSpec:
    return MessageSpec(
        model,
        subjects.query("ingest", T, name),
        "query",
        "gateway",
        ("vendor_ingestion",),
        reply=reply,
    )


SPECS: tuple[MessageSpec, ...] = (
    _query(InspectImport, "inspect", ImportView),
    _query(CommitImport, "commit", CommitOutcome),
    _query(GetImport, "import", ImportView),
    _query(ListImports, "imports", ImportList),
    _query(ListUsage, "usage", UsagePage),
    _query(ListProfiles, "profiles", ProfileList),
    _query(RenameProfile, "profiles.rename", ProfileView),
    _query(DeleteProfile, "profiles.delete", ProfileDeleted),
    _query(ListWebhookEndpoints, "webhooks", WebhookEndpointList),
    _query(CreateWebhookEndpoint, "webhooks.create", WebhookSecretIssued),
    _query(RotateWebhookSecret, "webhooks.rotate", WebhookSecretIssued),
    _query(DeleteWebhookEndpoint, "webhooks.delete", WebhookEndpointDeleted),
    _query(ListConnectors, "connectors", ConnectorList),
    _query(SaveConnector, "connectors.save", ConnectorView),
    _query(DeleteConnector, "connectors.delete", ConnectorDeleted),
    _query(CheckConnector, "connectors.test", ConnectorTestResult),
    _query(RunConnector, "connectors.run", ConnectorView),
)
