"""Audit use cases. Handlers call these inside one transaction; they never commit."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup.audit.models import ActionType, Entry, Outcome
from trueup.audit.repository import (
    EntryFilters,
    EntryRepository,
    TenantDirectory,
    TenantSettingsRepository,
)
from trueup.contracts import Envelope, Payload
from trueup.contracts.ingest import CONNECTOR_NAMES
from trueup.contracts.messages import (
    PSA_NAMES,
    ActionRecorded,
    ActivityEntry,
    ActivityPage,
    ActivityRetention,
    ActivityStep,
    Actor,
    ImportFinished,
    ImportStatus,
    ListActivity,
    LoginLocked,
    MappingChanged,
    ProratedChange,
    PsaSyncCompleted,
    SetActivityRetention,
    SettingsChanged,
    TenantCreated,
    TenantDeleted,
    TenantInviteIssued,
    TenantStatusChanged,
    UsageRemoved,
    WritebackApplied,
    WritebackConflict,
    WritebackFailed,
    WritebackOutcomeEvent,
)
from trueup.platform.broker import QueryFailedError
from trueup.platform.paging import within_page_bytes
from trueup.platform.tenants import OPERATOR_SCOPE

logger = structlog.get_logger(__name__)

ACTOR_KINDS = frozenset({"user", "rule", "system", "api_key"})

RECORDED_EVENTS: tuple[type[Payload], ...] = (
    ActionRecorded,
    WritebackApplied,
    WritebackConflict,
    WritebackFailed,
    MappingChanged,
    ImportFinished,
    PsaSyncCompleted,
    SettingsChanged,
    LoginLocked,
    UsageRemoved,
)
"""The domain events that become activity entries, one entry per event."""

PSA_SYNC_ACTOR = Actor(kind="system", id="psa_sync", name="PSA sync")
SIGN_IN_ACTOR = Actor(kind="system", id="gateway", name="Sign-in protection")
IMPORT_ACTOR = Actor(kind="system", id="vendor_ingestion", name="Vendor import")
RETENTION_SECTION = "activity_retention"


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive time is taken to be UTC already.

    SQLite stores datetimes as text without an offset, so every time is normalised
    before it is stored or compared, or two offsets of one instant would sort apart.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def plain(value: Decimal | None) -> Decimal | None:
    """A Decimal without trailing zeros or exponent (PostgreSQL returns 10.000000)."""
    if value is None:
        return None
    try:
        if value == value.to_integral_value():
            return value.quantize(Decimal(1))
        return value.normalize()
    except ArithmeticError:
        # Past the context's precision (an old row's 1E+400): shown as stored.
        return value


SETTINGS_SECTIONS = {
    "billing": "Billing settings",
    RETENTION_SECTION: "Activity log",
    "import_profiles": "Import profiles",
    "integrations": "Integrations",
}


def vendor_name(vendor: str) -> str:
    """ "pax8" → "Pax8"; a vendor named by a person (a CSV import profile) as they named
    it."""
    return CONNECTOR_NAMES.get(vendor.lower(), vendor)


def _psa_name(psa: str | None) -> str:
    return PSA_NAMES.get((psa or "").lower(), psa or "the PSA")


def _text(value: Decimal | None) -> str:
    shown = plain(value)
    return "" if shown is None else format(shown, "f")


def _lines(changes: list[ProratedChange]) -> list[dict[str, Any]]:
    return [
        {
            "effective_date": change.effective_date.isoformat(),
            "quantity": format(change.quantity, "f"),
        }
        for change in sorted(changes, key=lambda c: c.effective_date)
    ]


def _steps_text(
    before: Decimal | None, changes: list[ProratedChange], after: Decimal | None
) -> str:
    """ "20 → 45 → 48 → 50": every quantity a change passes through, in date order.

    Without the quantity before (an add, or a line item the PSA had not reported), the
    change is what it was set to: "set to 20", never "? → 20".
    """
    quantities = [change.quantity for change in sorted(changes, key=lambda c: c.effective_date)]
    if not quantities and after is not None:
        quantities = [after]
    if not quantities:
        return f"left at {_text(before)}" if before is not None else "no quantity given"
    steps = " → ".join(_text(q) for q in quantities)
    return f"set to {steps}" if before is None else f"{_text(before)} → {steps}"


def _card_text(service_line: str, account_name: str, *, joiner: str = "for") -> str:
    """ "Microsoft 365 Business Premium for Acme, Inc." with whichever names are known."""
    if service_line and account_name:
        return f"{service_line} {joiner} {account_name}"
    return service_line or account_name or "the line item"


def _contract_text(psa: str, contract_name: str, contract_psa_id: str | None) -> str:
    """ "ConnectWise contract “Managed Services”"; the id only when the name is unknown
    (an event from before outcomes carried it)."""
    if contract_name:
        return f"{psa} contract “{contract_name}”"
    if contract_psa_id:
        return f"{psa} contract {contract_psa_id}"
    return psa


def _actor_columns(actor: Actor) -> dict[str, Any]:
    return {"actor_kind": actor.kind, "actor_id": actor.id, "actor_name": actor.name}


def _action_columns(event: ActionRecorded) -> dict[str, Any]:
    card = _card_text(event.service_line, event.account_name)
    if event.action == "approve":
        summary = (
            f"Approved {card}: "
            f"{_steps_text(event.quantity_before, event.changes, event.quantity_after)}"
        )
    elif event.action == "add":
        summary = f"Added {_card_text(event.service_line, event.account_name, joiner='to')}"
        if event.quantity_after is not None:
            summary += f" at quantity {_text(event.quantity_after)}"
        if event.contract_name:
            summary += f" on contract “{event.contract_name}”"
    elif event.action == "restore":
        summary = f"Restored {card} (dismissal undone; the card is pending again)"
    elif event.action == "retry":
        summary = f"Retried writing {card} to the PSA"
        if event.changes or event.quantity_after is not None:
            steps = _steps_text(event.quantity_before, event.changes, event.quantity_after)
            summary += f": {steps}"
    else:
        summary = f"Dismissed {card}"
    if event.reason:
        summary += f" ({event.reason})"
    return {
        **_actor_columns(event.actor),
        "action_type": ActionType(event.action).value,
        # An approve, add or retry is only a request until writeback reports its outcome
        # in an entry of its own; a dismissal (or its undo) changes nothing outside TrueUp.
        "outcome": Outcome.APPLIED.value if event.action in ("dismiss", "restore") else None,
        "summary": summary,
        "action_id": event.action_id,
        "card_id": event.card_id,
        "account_name": event.account_name,
        "account_id": event.account_id,
        "service_line": event.service_line,
        "contract_psa_id": event.contract_psa_id,
        "quantity_before": event.quantity_before,
        "quantity_after": event.quantity_after,
        "price_before": event.unit_price_before,
        "price_after": event.unit_price,
        "currency": event.currency or None,
        "effective_date": event.effective_date,
        "prorated_lines": _lines(event.changes),
    }


def _writeback_columns(event: WritebackOutcomeEvent, action: Entry | None) -> dict[str, Any]:
    # Older writeback events lack the card's names and prices; take them from the
    # action's own entry (`action`) when it is already here.
    account_name = event.account_name or (action.account_name if action else "")
    service_line = event.service_line or (action.service_line if action else "")
    changes = event.changes or [
        ProratedChange(effective_date=step.effective_date, quantity=step.quantity)
        for step in _steps_view(action.prorated_lines if action else [])
    ]
    psa = _psa_name(event.psa)
    card = _card_text(service_line, account_name)
    contract = _contract_text(psa, event.contract_name, event.contract_psa_id)
    is_add = event.action == "add" or (action is not None and action.action_type == "add")
    if isinstance(event, WritebackApplied):
        outcome = Outcome.APPLIED
        if is_add:
            quantity = (
                f" at quantity {_text(event.quantity_after)}"
                if event.quantity_after is not None
                else ""
            )
            summary = f"Added {card} to {contract}{quantity}"
        else:
            steps = _steps_text(event.quantity_before, changes, event.quantity_after)
            summary = f"Wrote {card} to {contract}: {steps}"
    elif isinstance(event, WritebackConflict):
        outcome = Outcome.CONFLICT
        summary = (
            f"Not written: {card} is {_text(event.found_quantity)} in {contract}, "
            f"the card showed {_text(event.expected_quantity)}"
        )
    elif isinstance(event, WritebackFailed):
        outcome = Outcome.FAILED
        summary = (
            f"Writing {card} to {contract} failed after {event.attempts} attempt(s): {event.error}"
        )
        if event.dead_lettered:
            summary += " (parked for a person to retry)"
    else:  # pragma: no cover - the three outcomes are the only subclasses
        raise TypeError(type(event).__name__)
    return {
        **_actor_columns(event.actor),
        "action_type": ActionType.WRITEBACK.value,
        "outcome": outcome.value,
        "summary": summary,
        "action_id": event.action_id,
        "card_id": event.card_id,
        "account_name": account_name,
        "account_id": event.account_id or (action.account_id if action else None),
        "service_line": service_line,
        "contract_psa_id": event.contract_psa_id,
        "quantity_before": event.quantity_before,
        "quantity_after": event.quantity_after,
        "price_before": action.price_before if action else None,
        "price_after": event.unit_price
        if event.unit_price is not None
        else (action.price_after if action else None),
        # The outcome's prices are the action's, in the contract's currency.
        "currency": action.currency if action else None,
        "effective_date": event.effective_date,
        "prorated_lines": _lines(event.changes)
        if event.changes
        else (list(action.prorated_lines) if action else []),
        "psa_record_url": event.psa_record_url,
    }


def _mapping_columns(event: MappingChanged) -> dict[str, Any]:
    vendor = vendor_name(event.vendor)
    # Events from before they carried names have ids only: those are labelled, so a
    # reader can tell a vendor's account number from a PSA account.
    if event.kind == "account":
        source = f"{vendor} {event.vendor_key_name or f'account {event.vendor_key}'}"
        target = event.target_name or (f"PSA account {event.target_id}" if event.target_id else "")
        previous = event.previous_target_name or (
            f"PSA account {event.previous_target_id}" if event.previous_target_id else ""
        )
    else:
        source = f"{vendor} {event.vendor_key_name or f'SKU {event.vendor_key}'}"
        target = event.target_name or (f"service line {event.target_id}" if event.target_id else "")
        previous = event.previous_target_name
    if event.change == "updated":
        tag = f"vendor {vendor}" if event.vendor else "no vendor tag"
        summary = f"Updated service line {event.target_name or event.vendor_key} ({tag})"
    elif event.change == "mapped":
        summary = f"Mapped {source} → {target}"
        if previous and previous != target:
            summary += f" (was {previous})"
    elif event.change == "unmapped":
        summary = f"Unmapped {source}"
        if target or previous:
            summary += f" from {target or previous}"
    else:
        summary = f"Excluded {source}: its usage is not reconciled"
        if previous:
            summary += f" (was mapped to {previous})"
    if event.automatic:
        summary += " (automatic)"
    account_mapping = event.kind == "account"
    return {
        **_actor_columns(event.actor),
        "action_type": ActionType.MAPPING.value,
        "outcome": Outcome.APPLIED.value,
        "summary": summary,
        # So filtering by an account or service line also finds how it was mapped.
        "account_name": (event.target_name or event.previous_target_name)
        if account_mapping
        else "",
        "account_id": (event.target_id or event.previous_target_id) if account_mapping else None,
        "service_line": "" if account_mapping else event.target_name,
    }


def _import_columns(event: ImportFinished) -> dict[str, Any]:
    summary = (
        f"Import of {event.file_name} ({vendor_name(event.vendor)}) {event.status.value}: "
        f"{event.rows_imported} of {event.rows_read} rows imported, {event.rows_skipped} skipped"
    )
    if event.error:
        summary += f": {event.error}"
    failed = event.status is ImportStatus.FAILED
    return {
        **_actor_columns(event.actor or IMPORT_ACTOR),
        "action_type": ActionType.IMPORT.value,
        "outcome": (Outcome.FAILED if failed else Outcome.APPLIED).value,
        "summary": summary,
    }


def _sync_columns(event: PsaSyncCompleted) -> dict[str, Any]:
    kind = "Full" if event.full else "Incremental"
    if event.succeeded:
        summary = (
            f"{kind} PSA sync: {event.accounts} accounts ({event.active_accounts} active), "
            f"{event.contracts} contracts, {event.line_items} line items"
        )
    else:
        summary = f"{kind} PSA sync failed: {event.error or 'no reason given'}"
    return {
        **_actor_columns(PSA_SYNC_ACTOR),
        "action_type": ActionType.PSA_SYNC.value,
        "outcome": (Outcome.APPLIED if event.succeeded else Outcome.FAILED).value,
        "summary": summary,
    }


def _settings_columns(event: SettingsChanged) -> dict[str, Any]:
    return {
        **_actor_columns(event.actor),
        "action_type": ActionType.SETTINGS.value,
        "outcome": Outcome.APPLIED.value,
        "summary": f"{_section_name(event.section)}: {event.summary}",
    }


def _section_name(section: str) -> str:
    return SETTINGS_SECTIONS.get(section, section.replace("_", " ").capitalize())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _removal_columns(event: UsageRemoved) -> dict[str, Any]:
    vendor = vendor_name(event.vendor)
    what = (
        f"usage of import {event.label or event.import_id or event.batch_id} ({vendor})"
        if event.batch_id
        else f"all {vendor} usage"
    )
    return {
        **_actor_columns(event.actor),
        "action_type": ActionType.USAGE_REMOVAL.value,
        "outcome": Outcome.APPLIED.value,
        "summary": (
            f"Removed {what}: {_plural(event.records, 'record')}, "
            f"{_plural(event.vendor_accounts, 'vendor account')}, "
            f"{_plural(event.cards, 'card')} recomputed"
        ),
    }


def _login_locked_columns(event: LoginLocked) -> dict[str, Any]:
    why = " and ".join(
        {"account": "this account", "address": "this address"}[scope] for scope in event.scopes
    )
    return {
        **_actor_columns(SIGN_IN_ACTOR),
        "action_type": ActionType.SECURITY.value,
        "outcome": Outcome.APPLIED.value,
        "summary": (
            f"Sign-in locked for {event.email} for {event.seconds} s after repeated wrong "
            f"passwords from {why} ({event.client_address})"
        ),
    }


def _columns_for(payload: Payload, action: Entry | None) -> dict[str, Any]:
    """The entry's columns for a payload; `action` is the entry of the card action a
    writeback outcome reports on, if recorded."""
    if isinstance(payload, ActionRecorded):
        return _action_columns(payload)
    if isinstance(payload, WritebackOutcomeEvent):
        return _writeback_columns(payload, action)
    if isinstance(payload, MappingChanged):
        return _mapping_columns(payload)
    if isinstance(payload, ImportFinished):
        return _import_columns(payload)
    if isinstance(payload, PsaSyncCompleted):
        return _sync_columns(payload)
    if isinstance(payload, SettingsChanged):
        return _settings_columns(payload)
    if isinstance(payload, LoginLocked):
        return _login_locked_columns(payload)
    if isinstance(payload, UsageRemoved):
        return _removal_columns(payload)
    raise TypeError(f"audit does not record {type(payload).__name__}")


_OPTIONAL_COLUMNS: dict[str, Any] = {
    "outcome": None,
    "action_id": None,
    "card_id": None,
    "account_name": "",
    "service_line": "",
    "contract_psa_id": None,
    "quantity_before": None,
    "quantity_after": None,
    "price_before": None,
    "price_after": None,
    "currency": None,
    "effective_date": None,
    "prorated_lines": [],
    "psa_record_url": None,
}
"""What an entry holds where its event says nothing: every row of a bulk insert names
the same columns."""


def _entry_values(
    envelope: Envelope[Any], columns: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        **_OPTIONAL_COLUMNS,
        **columns,
        "tenant_id": envelope.tenant_id,
        # The event id is the entry id: however often an event is delivered, and even if
        # the inbox row were lost, it can only ever make this one entry.
        "entry_id": envelope.event_id,
        "event_type": envelope.type,
        "occurred_at": as_utc(envelope.occurred_at),
        "recorded_at": as_utc(now),
        "correlation_id": envelope.correlation_id,
    }


async def _append(
    session: AsyncSession, envelope: Envelope[Any], columns: dict[str, Any], now: datetime
) -> bool:
    tenant_id = envelope.tenant_id
    added = await EntryRepository(session, tenant_id).add(_entry_values(envelope, columns, now))
    if added:
        await TenantDirectory(session).register(tenant_id, as_utc(now))
    return added


async def record_event(session: AsyncSession, envelope: Envelope[Any], *, now: datetime) -> bool:
    """Append the entry for one domain event; False if it was recorded already."""
    entries = EntryRepository(session, envelope.tenant_id)
    payload = envelope.payload
    action = (
        await entries.latest_for_action(payload.action_id)
        if isinstance(payload, WritebackOutcomeEvent)
        else None
    )
    return await _append(session, envelope, _columns_for(payload, action), now)


async def record_events(
    session: AsyncSession, tenant_id: str, envelopes: Sequence[Envelope[Any]], *, now: datetime
) -> int:
    """Append the entries for one tenant's domain events in one statement, exactly as
    `record_event` would one by one; how many were not recorded already.

    The caller registers the tenant (`register_tenants`), once for a whole batch.
    """
    if not envelopes:
        return 0
    entries = EntryRepository(session, tenant_id)
    action_ids = {
        envelope.payload.action_id
        for envelope in envelopes
        if isinstance(envelope.payload, WritebackOutcomeEvent)
    }
    actions = await entries.latest_for_actions(action_ids) if action_ids else {}
    rows = []
    for envelope in envelopes:
        payload = envelope.payload
        action = (
            actions.get(payload.action_id) if isinstance(payload, WritebackOutcomeEvent) else None
        )
        rows.append(_entry_values(envelope, _columns_for(payload, action), now))
    return await entries.add_many(rows)


async def register_tenants(
    session: AsyncSession, tenant_ids: Iterable[str], *, now: datetime
) -> None:
    """Make sure the retention purge visits these tenants (one statement)."""
    await TenantDirectory(session).register_many(tenant_ids, as_utc(now))


def encode_cursor(entry: ActivityEntry) -> str:
    raw = json.dumps([as_utc(entry.occurred_at).isoformat(), entry.entry_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (occurred_at, entry_id) a page continues after; 400 if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, entry_id = json.loads(raw)
        return as_utc(datetime.fromisoformat(at)), str(entry_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise QueryFailedError(
            400, "Invalid cursor", "Pass the next_cursor of the previous page unchanged."
        ) from exc


async def retention_days(session: AsyncSession, tenant_id: str, default_days: int) -> int:
    """The tenant's retention in days (its own choice, else the default)."""
    chosen = await TenantSettingsRepository(session, tenant_id).retention_days()
    return chosen if chosen is not None else default_days


def retention_cutoff(now: datetime, days: int) -> datetime:
    """Entries that occurred strictly before this instant are past retention.

    An entry exactly `days` old is not older than the retention, so it is kept; the
    purge and every query use this one boundary.
    """
    return as_utc(now) - timedelta(days=days)


def to_view(row: Entry) -> ActivityEntry:
    """The entry as the API shows it; any row, however it was stored, can be read.

    Entries are append-only history: a value that later rules would refuse (an absurd
    quantity, an actor kind since renamed) must still show, and one bad row must never
    make the tenant's whole activity log or its export fail.
    """
    try:
        return ActivityEntry(
            entry_id=row.entry_id,
            occurred_at=as_utc(row.occurred_at),
            recorded_at=as_utc(row.recorded_at),
            actor=_actor_view(row),
            action_type=row.action_type,
            outcome=row.outcome,
            summary=row.summary,
            card_id=row.card_id,
            account_name=row.account_name or "",
            account_id=row.account_id,
            service_line=row.service_line or "",
            contract_psa_id=row.contract_psa_id,
            quantity_before=_shown(row.quantity_before),
            quantity_after=_shown(row.quantity_after),
            price_before=_shown(row.price_before),
            price_after=_shown(row.price_after),
            currency=row.currency,
            effective_date=row.effective_date,
            prorated_lines=_steps_view(row.prorated_lines),
            correlation_id=row.correlation_id,
            psa_record_url=row.psa_record_url,
        )
    except (ValidationError, ValueError, TypeError, ArithmeticError):
        logger.warning("activity entry unreadable; shown by its summary", entry_id=row.entry_id)
        return ActivityEntry(
            entry_id=str(row.entry_id),
            occurred_at=as_utc(row.occurred_at),
            recorded_at=as_utc(row.recorded_at),
            actor=Actor(kind="system", id=str(row.actor_id or ""), name=str(row.actor_name or "")),
            action_type=str(row.action_type),
            outcome=None if row.outcome is None else str(row.outcome),
            summary=str(row.summary or ""),
            card_id=None if row.card_id is None else str(row.card_id),
            correlation_id=str(row.correlation_id or ""),
        )


def _shown(value: Decimal | None) -> Decimal | None:
    return plain(value) if value is not None and value.is_finite() else None


def _actor_view(row: Entry) -> Actor:
    kind = row.actor_kind if row.actor_kind in ACTOR_KINDS else "system"
    return Actor(kind=kind, id=row.actor_id, name=row.actor_name)  # type: ignore[arg-type]


def _steps_view(lines: Any) -> list[ActivityStep]:
    steps = []
    for line in lines if isinstance(lines, list) else []:
        try:
            quantity = Decimal(str(line["quantity"]))
            steps.append(
                ActivityStep(
                    effective_date=date.fromisoformat(str(line["effective_date"])),
                    quantity=(plain(quantity) or Decimal(0))
                    if quantity.is_finite()
                    else Decimal(0),
                )
            )
        except (KeyError, TypeError, ValueError, ArithmeticError, ValidationError):
            continue
    return steps


async def list_activity(
    session: AsyncSession, query: Envelope[ListActivity], *, now: datetime, default_days: int
) -> ActivityPage:
    """One page of the tenant's activity, newest first, within its retention."""
    filters = query.payload
    after = decode_cursor(filters.cursor) if filters.cursor else None
    days = await retention_days(session, query.tenant_id, default_days)
    rows = await EntryRepository(session, query.tenant_id).page(
        EntryFilters(
            since=as_utc(filters.since) if filters.since else None,
            until=as_utc(filters.until) if filters.until else None,
            actor_id=filters.actor_id,
            # What a person types in a search box: surrounding spaces are not part of it.
            account=(filters.account or "").strip() or None,
            service_line=filters.service_line,
            contract_psa_id=filters.contract_psa_id,
            card_id=filters.card_id,
            action_type=filters.action_type,
            outcome=filters.outcome,
        ),
        not_before=retention_cutoff(now, days),
        after=after,
        limit=filters.limit + 1,
    )
    items = within_page_bytes([to_view(row) for row in rows[: filters.limit]])
    next_cursor = encode_cursor(items[-1]) if len(rows) > len(items) else None
    return ActivityPage(items=items, next_cursor=next_cursor)


async def set_retention(
    session: AsyncSession,
    command: Envelope[SetActivityRetention],
    *,
    now: datetime,
    default_days: int,
) -> ActivityRetention:
    """Change a tenant's retention and log the change like any other setting."""
    tenant_id = command.tenant_id
    days = command.payload.days
    previous = await retention_days(session, tenant_id, default_days)
    await TenantSettingsRepository(session, tenant_id).set_retention_days(
        days, actor_id=command.payload.actor.id, now=as_utc(now)
    )
    columns = {
        **_actor_columns(command.payload.actor),
        "action_type": ActionType.SETTINGS.value,
        "outcome": Outcome.APPLIED.value,
        "summary": f"{_section_name(RETENTION_SECTION)}: retention set to {days} days "
        f"(was {previous})",
    }
    await _append(session, command, columns, now)
    return ActivityRetention(days=days)


async def record_operator_event(
    session: AsyncSession, envelope: Envelope[Any], *, now: datetime
) -> bool:
    """Keep an operator's decision about a tenant (create, invite, suspend, resume, delete)
    in the operator scope, where the tenant's own deletion and retention never reach it.
    The actor is the operator who acted, as the command line or the API named them."""
    payload = envelope.payload
    tenant_id = envelope.tenant_id
    if isinstance(payload, TenantCreated):
        summary = f"Tenant {tenant_id} ({payload.tenant_name}) created"
    elif isinstance(payload, TenantInviteIssued):
        expires = as_utc(payload.expires_at).strftime("%Y-%m-%d %H:%M UTC")
        summary = (
            f"{payload.role.capitalize()} invite link for tenant {tenant_id} issued "
            f"(works once, until {expires})"
        )
    elif isinstance(payload, TenantDeleted):
        summary = (
            f"Tenant {tenant_id} ({payload.tenant_name}) deleted; its activity log was "
            "deleted with its data"
        )
    elif isinstance(payload, TenantStatusChanged):
        summary = (
            f"Tenant {tenant_id} {'suspended' if payload.status == 'suspended' else 'resumed'}"
        )
    else:
        raise TypeError(f"not an operator event: {type(payload).__name__}")
    columns = {
        **_actor_columns(payload.actor),
        "action_type": ActionType.TENANT.value,
        "outcome": Outcome.APPLIED.value,
        "summary": summary,
        "account_id": tenant_id,
    }
    values = {**_entry_values(envelope, columns, now), "tenant_id": OPERATOR_SCOPE}
    return await EntryRepository(session, OPERATOR_SCOPE).add(values)
