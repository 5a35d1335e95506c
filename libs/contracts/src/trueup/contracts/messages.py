"""The events, commands and queries of every flow in ARCHITECTURE.md.

Events are facts in the past tense, commands are imperatives, queries ask and are
answered over request-reply. Each payload names its versioned `message_type`; the
`CATALOGUE` ties each one to its subject pattern, stream and producer, and is the source
of `docs/asyncapi.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from trueup.contracts import subjects
from trueup.contracts.envelope import Payload
from trueup.contracts.types import Amount, BusinessDate, Name, Quantity, Text

# --- shared shapes -----------------------------------------------------------------


class UsageSource(StrEnum):
    CSV = "csv"
    WEBHOOK = "webhook"
    CONNECTOR = "connector"
    PUSH = "push"


class UsageRecord(Payload):
    """A quantity a vendor reports for one (vendor account, SKU) at a time."""

    vendor_account_id: Name
    vendor_account_name: Text = ""
    sku: Name
    sku_name: Text = ""
    quantity: Quantity
    as_of: datetime
    psa_account_hint: Text | None = None
    """A PSA account id carried in the vendor's data, if any (helps mapping)."""


class Actor(Payload):
    """Who caused a change: a user, an auto-reconcile rule, or the system."""

    kind: Literal["user", "rule", "system", "api_key"]
    id: str
    name: str = ""


class PsaAccount(Payload):
    psa_id: str
    name: str
    identifier: str = ""


class PsaContract(Payload):
    psa_id: str
    account_psa_id: str
    name: str
    status: str
    start_date: date | None = None
    end_date: date | None = None
    billing_cycle: Literal["monthly", "quarterly", "semi_annual", "annual"] = "monthly"
    bill_in_advance: bool = True
    proration_allowed: bool = True
    currency: str = "USD"
    dated_changes: bool = True
    """False where the PSA changes a quantity from now on and cannot schedule a later
    change (HaloPSA): a change dated after today could never be written as previewed."""


class PsaLineItem(Payload):
    psa_id: str
    contract_psa_id: str
    product_id: str
    product_name: str
    quantity: Amount
    unit_price: Amount
    unit_cost: Amount
    effective_date: date | None = None
    cancelled_date: date | None = None


# --- events ------------------------------------------------------------------------


class UsageReported(Payload):
    """A batch of usage from one vendor source."""

    message_type: ClassVar[str] = "usage.reported.v1"

    vendor: Name
    source: UsageSource
    batch_id: str
    records: list[UsageRecord]
    replaces_accounts: list[str] = Field(default_factory=list)
    """Vendor accounts whose earlier usage from this vendor this batch replaces (a newer
    file replaces, it does not add)."""


class UsageImported(UsageReported):
    """A batch of usage from a bulk source: a file import, a connector's full poll, or
    any batch larger than `LIVE_USAGE_MAX_RECORDS`.

    The same fact as `UsageReported` on its own subject, so that reconciliation takes bulk
    usage in a lane of its own: one tenant's million-row import never queues ahead of
    another tenant's webhook.
    """

    message_type: ClassVar[str] = "usage.imported.v1"


LIVE_USAGE_MAX_RECORDS = 1000
"""The largest batch that still travels in the live lane (as `UsageReported`)."""


def usage_event_model(source: UsageSource, records: int) -> type[UsageReported]:
    """The event a batch of usage travels as: webhooks and pushes of a webhook's size are
    live (`UsageReported`); imports, connector polls and anything larger are bulk."""
    if source in (UsageSource.CSV, UsageSource.CONNECTOR) or records > LIVE_USAGE_MAX_RECORDS:
        return UsageImported
    return UsageReported


class ImportStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    UNCHANGED = "unchanged"


class ImportFinished(Payload):
    """An import job ended: completed, failed, or unchanged (the same bytes again)."""

    message_type: ClassVar[str] = "ingest.import.finished.v1"

    import_id: str
    vendor: str
    file_name: str
    status: ImportStatus
    rows_read: int = 0
    rows_imported: int = 0
    rows_skipped: int = 0
    totals_rows_ignored: int = 0
    error: str | None = None
    actor: Actor | None = None


class PsaSnapshot(Payload):
    """One batch of PSA state as last read; a full sync ends with `PsaSyncCompleted`."""

    message_type: ClassVar[str] = "psa.snapshot.v1"

    connection_id: str
    psa: str = ""
    sync_id: str
    batch_no: int = Field(ge=0)
    full: bool
    accounts: list[PsaAccount] = Field(default_factory=list)
    contracts: list[PsaContract] = Field(default_factory=list)
    line_items: list[PsaLineItem] = Field(default_factory=list)
    removed_contract_ids: list[str] = Field(default_factory=list)
    removed_line_item_ids: list[str] = Field(default_factory=list)


class PsaSyncCompleted(Payload):
    """A sync finished; on a full sync, anything not seen in it has left the PSA."""

    message_type: ClassVar[str] = "psa.sync.completed.v1"

    connection_id: str
    sync_id: str
    full: bool
    # What the PSA holds after the sync; none of it is known when a sync failed.
    batches: int = 0
    accounts: int = 0
    contracts: int = 0
    line_items: int = 0
    active_accounts: int = 0
    succeeded: bool = True
    error: str | None = None


class CardsChanged(Payload):
    """Cards were created, updated or changed state; the gateway pushes this to browsers."""

    message_type: ClassVar[str] = "recon.cards.changed.v1"

    card_ids: list[str]
    reason: str


class MappingChanged(Payload):
    """An account or service mapping was made, changed, excluded or removed."""

    message_type: ClassVar[str] = "recon.mapping.changed.v1"

    kind: Literal["account", "service"]
    change: Literal["mapped", "unmapped", "excluded", "updated"]
    vendor: str
    vendor_key: str
    target_id: str | None
    actor: Actor
    automatic: bool = False
    # Names as the producer knew them when the mapping changed, so the activity log reads
    # "Pax8 ACME Incorporated → Acme, Inc."; events from before they existed carry "".
    vendor_key_name: str = ""
    """The vendor account's or SKU's name as the vendor reports it."""
    target_name: str = ""
    """The name of `target_id`: the PSA account or the service line."""
    previous_target_id: str | None = None
    """What the vendor account or SKU was mapped to before this change, if anything."""
    previous_target_name: str = ""


class ActionRecorded(Payload):
    """A person or a rule actioned a card (approve, add, dismiss, restore: the undo of a
    dismiss, or retry: a failed writeback sent again)."""

    message_type: ClassVar[str] = "recon.action.recorded.v1"

    action_id: str
    card_id: str
    action: Literal["approve", "add", "dismiss", "restore", "retry"]
    actor: Actor
    account_name: str = ""
    service_line: str = ""
    contract_psa_id: str | None = None
    account_id: str | None = None
    """The PSA account's id, so the activity log can be filtered by it exactly."""
    contract_name: str = ""
    quantity_before: Amount | None = None
    quantity_after: Amount | None = None
    unit_price: Amount | None = None
    effective_date: date | None = None
    reason: str | None = None
    unit_price_before: Amount | None = None
    """The line item's unit price before the action (`unit_price` is the price after)."""
    changes: list[ProratedChange] = Field(default_factory=list)
    """The dated (prorated) steps of an approve or add (or of the write a retry sends
    again), as sent to writeback."""
    currency: str = ""
    """ISO 4217 code of `unit_price` and `unit_price_before`: the currency of the contract
    the change is written to; "" from producers that did not send it."""


class UsageRemoved(Payload):
    """A person removed a vendor's usage, or one import's (a test file, a wrong vendor).

    Reconciliation deleted the stored usage and recomputed the cards it fed; vendor
    ingestion drops its raw rows and forgets the batches' keys, so the same file can be
    imported again.
    """

    message_type: ClassVar[str] = "recon.usage.removed.v1"

    removal_id: str
    vendor: str
    batch_id: str | None = None
    """The import's usage batch; None when all of the vendor's usage was removed."""
    import_id: str | None = None
    label: str = ""
    """What was removed as a person knows it: the import's file name, or ""."""
    records: int = Field(ge=0)
    vendor_accounts: int = Field(ge=0)
    cards: int = Field(ge=0)
    """Cards the removed usage fed, recomputed without it."""
    actor: Actor


class WritebackOutcomeEvent(Payload):
    """Fields shared by the three writeback outcomes."""

    job_id: str
    actor: Actor
    idempotency_key: str
    card_id: str
    action_id: str
    psa: str
    contract_psa_id: str
    line_item_psa_id: str | None
    quantity_before: Amount | None
    quantity_after: Amount | None
    effective_date: date | None
    psa_record_url: str | None = None
    # Carried over from the ApplyWriteback command, so the activity log can show and
    # filter the outcome without depending on the order events arrive in.
    account_name: str = ""
    service_line: str = ""
    unit_price: Amount | None = None
    changes: list[ProratedChange] = Field(default_factory=list)
    account_id: str | None = None
    contract_name: str = ""
    action: Literal["approve", "add"] | None = None
    """What the write carries out: an add has no quantity before it."""


class WritebackApplied(WritebackOutcomeEvent):
    message_type: ClassVar[str] = "writeback.applied.v1"

    written_ids: list[str] = Field(default_factory=list)


class WritebackConflict(WritebackOutcomeEvent):
    """The PSA's quantity was no longer what the card showed: nothing was written."""

    message_type: ClassVar[str] = "writeback.conflict.v1"

    expected_quantity: Amount
    found_quantity: Amount


class WritebackFailed(WritebackOutcomeEvent):
    message_type: ClassVar[str] = "writeback.failed.v1"

    error: str
    attempts: int
    dead_lettered: bool


class SettingsChanged(Payload):
    """A tenant setting changed (billing cycle, rules, PSA connection, webhooks...)."""

    message_type: ClassVar[str] = "tenant.settings.changed.v1"

    section: str
    actor: Actor
    summary: str


class LoginLocked(Payload):
    """Repeated wrong passwords locked sign-in for one of the tenant's users for a while."""

    message_type: ClassVar[str] = "tenant.login.locked.v1"

    email: str
    seconds: int = Field(ge=0)
    scopes: list[Literal["account", "address"]]
    client_address: str


class TenantStatusChanged(Payload):
    """An operator suspended a tenant (its people, keys and webhooks are refused) or
    resumed it."""

    message_type: ClassVar[str] = "tenant.status.changed.v1"

    status: Literal["active", "suspended"]
    actor: Actor


class TenantDeleted(Payload):
    """An operator deleted a tenant: every service removes every row it holds for it."""

    message_type: ClassVar[str] = "tenant.deleted.v1"

    tenant_name: str
    actor: Actor


class TenantCreated(Payload):
    """An operator created a tenant; its first admin's invite follows."""

    message_type: ClassVar[str] = "tenant.created.v1"

    tenant_name: str
    actor: Actor


class TenantInviteIssued(Payload):
    """An operator issued a one-time invite link into a tenant (never the link itself)."""

    message_type: ClassVar[str] = "tenant.invite.issued.v1"

    role: Literal["admin", "billing", "viewer"]
    expires_at: datetime
    actor: Actor


# --- commands ----------------------------------------------------------------------


class SyncPsa(Payload):
    message_type: ClassVar[str] = "cmd.psa.sync.v1"

    connection_id: str | None = None
    full: bool = False


class ImportFile(Payload):
    """Run (or commit) an import of a file already in the object store."""

    message_type: ClassVar[str] = "cmd.ingest.import.v1"

    import_id: str
    object_name: str
    file_name: str
    vendor: str | None = None


class ProratedChange(Payload):
    """One dated step of a card's change: from `effective_date` the quantity is `quantity`."""

    effective_date: BusinessDate
    quantity: Quantity


class ApplyWriteback(Payload):
    """Write one approved change to the PSA, exactly once (keyed by `idempotency_key`).

    `changes` holds one step for a plain change, several for a card carrying several
    prorated changes; they are written in date order.
    """

    message_type: ClassVar[str] = "cmd.writeback.apply.v1"

    idempotency_key: str
    card_id: str
    action_id: str
    action: Literal["approve", "add"]
    actor: Actor
    connection_id: str
    psa: Literal["connectwise", "autotask", "halo"]
    contract_psa_id: str
    line_item_psa_id: str | None
    product_id: str | None = None
    product_name: str = ""
    """The service line's name; also the product name of a line item an add creates."""
    account_name: str = ""
    expected_quantity: Amount | None
    changes: list[ProratedChange] = Field(min_length=1)
    unit_price: Amount | None = None
    unit_cost: Amount | None = None
    prorate: bool = False
    # Passed on to the outcome events for the activity log only.
    account_id: str | None = None
    contract_name: str = ""


class RetryWriteback(Payload):
    """A person retries a dead-lettered writeback job."""

    message_type: ClassVar[str] = "cmd.writeback.retry.v1"

    job_id: str
    actor: Actor


class GetPsaConnection(Payload):
    """Writeback asks psa_sync for a connection; credentials come back sealed, never clear."""

    message_type: ClassVar[str] = "query.psa.connection.v1"

    connection_id: str


class PsaConnectionSealed(Payload):
    connection_id: str
    psa: Literal["connectwise", "autotask", "halo"]
    sealed_credentials: str
    """Credentials sealed with the shared credential key (`trueup.platform.secrets`)."""


# --- queries -----------------------------------------------------------------------


PsaKindName = Literal["connectwise", "autotask", "halo"]
#: PSA kinds are lower-case tags on the wire; a person knows them by these names.
PSA_NAMES: dict[str, str] = {
    "connectwise": "ConnectWise",
    "autotask": "Autotask",
    "halo": "HaloPSA",
}


class SavePsaConnection(Payload):
    """Create or replace a tenant's PSA connection (credentials travel once, to psa_sync)."""

    message_type: ClassVar[str] = "query.psa.connection.save.v1"

    psa: PsaKindName
    name: str = Field(min_length=1, max_length=200)
    credentials: dict[str, str]
    """ConnectWise: site, company_id, public_key, private_key, client_id[, codebase];
    Autotask: username, secret, integration_code[, zone_url]; Halo: base_url, client_id,
    client_secret[, tenant]."""
    actor: Actor
    connection_id: str | None = None


class TestPsaConnection(Payload):
    """Try a connection's credentials against the PSA."""

    __test__ = False  # not a pytest test class
    message_type: ClassVar[str] = "query.psa.connection.test.v1"

    connection_id: str


class GetSyncStatus(Payload):
    message_type: ClassVar[str] = "query.psa.status.v1"


class PsaConnectionStatus(Payload):
    """A connection as the settings page shows it: never its credentials."""

    connection_id: str
    psa: PsaKindName
    name: str
    status: Literal["never_synced", "syncing", "ok", "error", "bad_credentials"]
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    freshness_seconds: int | None = None
    accounts: int = 0
    contracts: int = 0
    line_items: int = 0


class SyncStatus(Payload):
    connections: list[PsaConnectionStatus]
    active_accounts: int
    """Accounts with at least one active contract: the tenant's billing-tier figure."""


class ConnectionTestResult(Payload):
    ok: bool
    detail: str


class ListActivity(Payload):
    """Filters over the activity log; `since`/`until` bound `occurred_at`."""

    message_type: ClassVar[str] = "query.audit.activity.v1"

    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    account: str | None = None
    """Part of the account's name, in any case, or its exact id."""
    service_line: str | None = None
    contract_psa_id: str | None = None
    card_id: str | None = None
    action_type: str | None = None
    outcome: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


class ActivityStep(Payload):
    """A dated step as an activity entry shows it: read back, never re-validated as input."""

    effective_date: date
    quantity: Amount


class ActivityEntry(Payload):
    """One append-only activity log entry."""

    entry_id: str
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    action_type: str
    outcome: str | None = None
    summary: str
    card_id: str | None = None
    account_name: str = ""
    account_id: str | None = None
    service_line: str = ""
    contract_psa_id: str | None = None
    quantity_before: Amount | None = None
    quantity_after: Amount | None = None
    price_before: Amount | None = Field(
        default=None,
        description="The line item's unit price before the change, for one unit and one "
        "billing period of its contract, in `currency`.",
    )
    price_after: Amount | None = Field(
        default=None,
        description="The unit price the change writes (an add: the price it was added at), "
        "for one unit and one billing period of the contract, in `currency`.",
    )
    currency: str | None = Field(
        default=None,
        description="ISO 4217 code of `price_before` and `price_after` (the contract's "
        "currency); null in entries recorded before entries carried it.",
    )
    effective_date: date | None = None
    prorated_lines: list[ActivityStep] = Field(default_factory=list)
    correlation_id: str
    psa_record_url: str | None = None


class ActivityPage(Payload):
    items: list[ActivityEntry]
    next_cursor: str | None = None


class SetActivityRetention(Payload):
    """A tenant's activity-log retention in days (the product promises 14 by default)."""

    message_type: ClassVar[str] = "query.audit.retention.v1"

    days: int = Field(ge=1, le=3650)
    actor: Actor


class ActivityRetention(Payload):
    days: int


# --- the catalogue -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """How a message travels: its subject pattern, kind, producer and consumers."""

    model: type[Payload]
    subject: str
    kind: Literal["event", "command", "query"]
    producer: str
    consumers: tuple[str, ...]
    reply: type[Payload] | None = None


T = subjects.ANY_TENANT
CORE_SPECS: tuple[MessageSpec, ...] = (
    MessageSpec(
        UsageReported,
        subjects.event("usage", T, "reported"),
        "event",
        "vendor_ingestion",
        ("reconciliation",),
    ),
    MessageSpec(
        UsageImported,
        subjects.event("usage", T, "imported"),
        "event",
        "vendor_ingestion",
        ("reconciliation",),
    ),
    MessageSpec(
        ImportFinished,
        subjects.event("ingest", T, "import.finished"),
        "event",
        "vendor_ingestion",
        ("audit",),
    ),
    MessageSpec(
        PsaSnapshot, subjects.event("psa", T, "snapshot"), "event", "psa_sync", ("reconciliation",)
    ),
    MessageSpec(
        PsaSyncCompleted,
        subjects.event("psa", T, "sync.completed"),
        "event",
        "psa_sync",
        ("reconciliation", "audit"),
    ),
    MessageSpec(
        CardsChanged,
        subjects.event("recon", T, "cards.changed"),
        "event",
        "reconciliation",
        ("gateway",),
    ),
    MessageSpec(
        MappingChanged,
        subjects.event("recon", T, "mapping.changed"),
        "event",
        "reconciliation",
        ("audit",),
    ),
    MessageSpec(
        ActionRecorded,
        subjects.event("recon", T, "action.recorded"),
        "event",
        "reconciliation",
        ("audit",),
    ),
    MessageSpec(
        UsageRemoved,
        subjects.event("recon", T, "usage.removed"),
        "event",
        "reconciliation",
        ("vendor_ingestion", "audit"),
    ),
    MessageSpec(
        WritebackApplied,
        subjects.event("writeback", T, "applied"),
        "event",
        "writeback",
        ("reconciliation", "psa_sync", "audit"),
    ),
    MessageSpec(
        WritebackConflict,
        subjects.event("writeback", T, "conflict"),
        "event",
        "writeback",
        ("reconciliation", "psa_sync", "audit"),
    ),
    MessageSpec(
        WritebackFailed,
        subjects.event("writeback", T, "failed"),
        "event",
        "writeback",
        ("reconciliation", "audit"),
    ),
    MessageSpec(
        SettingsChanged,
        subjects.event("tenant", T, "settings.changed"),
        "event",
        "gateway",
        ("audit",),
    ),
    MessageSpec(
        LoginLocked,
        subjects.event("tenant", T, "login.locked"),
        "event",
        "gateway",
        ("audit",),
    ),
    MessageSpec(
        TenantStatusChanged,
        subjects.event("tenant", T, "status.changed"),
        "event",
        "gateway",
        ("psa_sync", "vendor_ingestion", "audit"),
    ),
    MessageSpec(
        TenantDeleted,
        subjects.event("tenant", T, "deleted"),
        "event",
        "gateway",
        ("gateway", "psa_sync", "vendor_ingestion", "reconciliation", "writeback", "audit"),
    ),
    MessageSpec(
        TenantCreated,
        subjects.event("tenant", T, "created"),
        "event",
        "gateway",
        ("audit",),
    ),
    MessageSpec(
        TenantInviteIssued,
        subjects.event("tenant", T, "invite.issued"),
        "event",
        "gateway",
        ("audit",),
    ),
    MessageSpec(SyncPsa, subjects.command("psa", T, "sync"), "command", "gateway", ("psa_sync",)),
    MessageSpec(
        ImportFile,
        subjects.command("ingest", T, "import"),
        "command",
        "vendor_ingestion",
        ("vendor_ingestion",),
    ),
    MessageSpec(
        ApplyWriteback,
        subjects.command("writeback", T, "apply"),
        "command",
        "reconciliation",
        ("writeback",),
    ),
    MessageSpec(
        RetryWriteback,
        subjects.command("writeback", T, "retry"),
        "command",
        "reconciliation",
        ("writeback",),
    ),
    MessageSpec(
        GetPsaConnection,
        subjects.query("psa", T, "connection"),
        "query",
        "writeback",
        ("psa_sync",),
        reply=PsaConnectionSealed,
    ),
    MessageSpec(
        SavePsaConnection,
        subjects.query("psa", T, "connection.save"),
        "query",
        "gateway",
        ("psa_sync",),
        reply=PsaConnectionStatus,
    ),
    MessageSpec(
        TestPsaConnection,
        subjects.query("psa", T, "connection.test"),
        "query",
        "gateway",
        ("psa_sync",),
        reply=ConnectionTestResult,
    ),
    MessageSpec(
        GetSyncStatus,
        subjects.query("psa", T, "status"),
        "query",
        "gateway",
        ("psa_sync",),
        reply=SyncStatus,
    ),
    MessageSpec(
        ListActivity,
        subjects.query("audit", T, "activity"),
        "query",
        "gateway",
        ("audit",),
        reply=ActivityPage,
    ),
    MessageSpec(
        SetActivityRetention,
        subjects.query("audit", T, "retention"),
        "query",
        "gateway",
        ("audit",),
        reply=ActivityRetention,
    ),
)


def spec_for(model: type[Payload]) -> MessageSpec:
    """The catalogue entry of a payload class."""
    from trueup.contracts.catalogue import CATALOGUE

    for spec in CATALOGUE:
        if spec.model is model:
            return spec
    raise LookupError(f"{model.__name__} is not in the catalogue")


def subject_for(model: type[Payload], tenant_id: str) -> str:
    """The concrete subject of a message for one tenant."""
    return spec_for(model).subject.replace(".*.", f".{tenant_id}.", 1)
