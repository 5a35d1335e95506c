"""Reconciliation use cases. Handlers call these inside one transaction; they never commit.

Every change of input (a PSA snapshot, usage, a mapping, a setting) ends in `recompute`,
which runs the domain's `reconcile` over the tenant's state, stores the cards that
changed, and announces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import Envelope, Payload, caused_by, new_id, wrap
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.platform.logging import get_logger
from trueup.platform.messaging import enqueue
from trueup.platform.service import freeze_long_lived
from trueup.reconciliation import state as st
from trueup.reconciliation.index_cache import CachedIndex, TenantIndexCache, new_token
from trueup.reconciliation.models import (
    AccountMappingRow,
    AccountRow,
    ActionRow,
    CardRow,
    ContractRow,
    LineItemRow,
    ServiceLineRow,
    ServiceMappingRow,
    TenantSettingsRow,
    Usage,
)
from trueup.reconciliation.repository import Repository

log = get_logger(__name__)

SYSTEM = m.Actor(kind="system", id="reconciliation", name="TrueUp")


def as_utc(moment: datetime) -> datetime:
    """Comparable whatever the database or sender did with the zone (naive means UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


async def announce(
    session: AsyncSession, tenant_id: str, payload: Payload, cause: Envelope[Any] | None
) -> None:
    envelope = caused_by(cause, payload) if cause else wrap(payload, tenant_id=tenant_id)
    await enqueue(session, m.subject_for(type(payload), tenant_id), envelope)


# --- settings ---------------------------------------------------------------------------


async def billing_settings(repo: Repository) -> r.BillingSettings:
    row = await repo.settings_row()
    if row is None or not row.settings:
        return r.BillingSettings()
    return r.BillingSettings.model_validate(row.settings)


async def save_settings(
    session: AsyncSession, tenant_id: str, query: Envelope[r.SaveSettings]
) -> r.BillingSettings:
    repo = Repository(session, tenant_id)
    settings = query.payload.settings
    try:
        st.domain_settings(settings)  # the domain refuses a rule without a size limit
    except ValueError as exc:
        raise QueryFailedError(422, "Invalid settings", str(exc)) from exc
    row = await repo.settings_row()
    stored = settings.model_dump(mode="json")
    if row is None:
        await repo.merge(TenantSettingsRow(tenant_id=tenant_id, settings=stored, active_accounts=0))
    else:
        row.settings = stored
    await announce(
        session,
        tenant_id,
        m.SettingsChanged(
            section="billing",
            actor=query.payload.actor,
            summary=(
                f"cycle starts day {settings.cycle_start_day}, "
                f"{settings.proration_convention.replace('_', '-')} proration, "
                f"{len(settings.rules)} rule(s)"
            ),
        ),
        query,
    )
    await recompute(session, tenant_id, reason="settings", cause=query)
    return settings


# --- inputs -------------------------------------------------------------------------------


async def apply_snapshot(session: AsyncSession, envelope: Envelope[m.PsaSnapshot]) -> None:
    """Project one batch of PSA state; incremental batches recompute at once, a full sync
    waits for its `sync.completed`."""
    tenant_id = envelope.tenant_id
    snapshot = envelope.payload
    repo = Repository(session, tenant_id)
    # Keyed by PSA id: a later entry of the batch wins, as row-by-row merges did. An
    # account's New Revenue switch is TrueUp's, not the PSA's, so a sync leaves it alone.
    await repo.upsert(
        AccountRow,
        AccountRow.account_id,
        {
            account.psa_id: {
                "name": account.name,
                "identifier": account.identifier,
                "connection_id": snapshot.connection_id,
            }
            for account in snapshot.accounts
        },
    )
    await repo.upsert(
        ContractRow,
        ContractRow.contract_id,
        {
            contract.psa_id: {
                "account_id": contract.account_psa_id,
                "name": contract.name,
                "status": contract.status,
                "start_date": contract.start_date,
                "end_date": contract.end_date,
                "billing_cycle": contract.billing_cycle,
                "bill_in_advance": contract.bill_in_advance,
                "proration_allowed": contract.proration_allowed,
                "dated_changes": contract.dated_changes,
                "currency": contract.currency,
                "connection_id": snapshot.connection_id,
                "psa": snapshot.psa,
            }
            for contract in snapshot.contracts
        },
    )
    await repo.upsert(
        LineItemRow,
        LineItemRow.line_item_id,
        {
            item.psa_id: {
                "contract_id": item.contract_psa_id,
                "product_id": item.product_id,
                "product_name": item.product_name,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "unit_cost": item.unit_cost,
                "effective_date": item.effective_date,
                "cancelled_date": item.cancelled_date,
            }
            for item in snapshot.line_items
        },
    )
    # Every PSA product is a service line; the first price seen is the catalogue price New
    # Revenue is valued at until a person enters one, so existing ones are not updated.
    new_lines: dict[str, dict[str, Any]] = {}
    for item in snapshot.line_items:
        new_lines.setdefault(
            item.product_id,
            {
                "name": item.product_name,
                "product_id": item.product_id,
                "vendor_tag": None,
                "sales_unit": "each",
                "catalogue_unit_price": item.unit_price,
                "catalogue_unit_cost": item.unit_cost,
            },
        )
    await repo.upsert(ServiceLineRow, ServiceLineRow.service_line_id, new_lines, update=False)
    await repo.remove_contracts(snapshot.removed_contract_ids)
    await repo.remove_line_items(snapshot.removed_line_item_ids)
    await session.flush()
    if not snapshot.full:
        await recompute(session, tenant_id, reason="psa", cause=envelope)


async def apply_sync_completed(
    session: AsyncSession, envelope: Envelope[m.PsaSyncCompleted]
) -> None:
    if not envelope.payload.succeeded:
        return
    repo = Repository(session, envelope.tenant_id)
    row = await repo.settings_row()
    if row is None:
        await repo.merge(
            TenantSettingsRow(
                tenant_id=envelope.tenant_id,
                settings={},
                last_sync_at=envelope.occurred_at,
                active_accounts=0,
            )
        )
    else:
        row.last_sync_at = envelope.occurred_at
    await session.flush()
    await recompute(session, envelope.tenant_id, reason="psa", cause=envelope)


async def apply_usage(session: AsyncSession, envelope: Envelope[m.UsageReported]) -> list[str]:
    """Store a usage batch (a newer file replaces, it does not add) and recompute."""
    return await apply_usage_batches(session, envelope.tenant_id, [envelope])


async def apply_usage_batches(
    session: AsyncSession, tenant_id: str, envelopes: Sequence[Envelope[m.UsageReported]]
) -> list[str]:
    """Store one tenant's usage batches, in order, and recompute once for all of them."""
    repo = Repository(session, tenant_id)
    keys = await _store_usage(repo, [envelope.payload for envelope in envelopes])
    cause = envelopes[-1]
    changed = await recompute_usage(session, tenant_id, keys, cause=cause)
    if changed is not None:
        return changed
    return await recompute(session, tenant_id, reason="usage", cause=cause)


async def _store_usage(
    repo: Repository, batches: Sequence[m.UsageReported]
) -> set[tuple[str, str]]:
    """Write what the batches leave, as if applied one after another: a batch replaces the
    usage of its `replaces_accounts`, and a later record of a (vendor account, SKU) wins.

    Except that an observation older than the one stored is ignored: a report redelivered
    after a crash (or handled by a slower replica) arrives after newer ones, and must not
    bring back a count the vendor has since replaced. A replacement whose newest record is
    older than the account's stored usage likewise only adds what is newer (one that sends
    no records for the account has no time to compare, and empties it).
    Returns the (vendor, vendor account) pairs whose usage may have changed."""
    replaced: set[tuple[str, str]] = set()
    rows: dict[tuple[str, str, str], Usage] = {}
    for batch in batches:
        for vendor_account in batch.replaces_accounts:
            replaced.add((batch.vendor, vendor_account))
            for key in [k for k in rows if k[:2] == (batch.vendor, vendor_account)]:
                del rows[key]
        for record in batch.records:
            key = (batch.vendor, record.vendor_account_id, record.sku)
            earlier = rows.get(key)
            if earlier is not None and as_utc(earlier.as_of) > as_utc(record.as_of):
                continue
            rows[key] = Usage(
                tenant_id=repo.tenant_id,
                vendor=batch.vendor,
                vendor_account_id=record.vendor_account_id,
                sku=record.sku,
                vendor_account_name=record.vendor_account_name,
                sku_name=record.sku_name,
                quantity=record.quantity,
                as_of=record.as_of,
                source=batch.source.value,
                batch_id=batch.batch_id,
                psa_account_hint=record.psa_account_hint,
            )
    touched = replaced | {key[:2] for key in rows}
    stored = {key: as_utc(as_of) for key, as_of in (await repo.usage_times(touched)).items()}
    for account in list(replaced):
        newest_stored = max((t for k, t in stored.items() if k[:2] == account), default=None)
        newest_sent = max(
            (as_utc(row.as_of) for k, row in rows.items() if k[:2] == account), default=None
        )
        # A replacement that sends nothing for the account has no time to compare: it
        # empties the account, as it always did.
        if newest_stored is not None and newest_sent is not None and newest_sent < newest_stored:
            replaced.discard(account)
    for key in [k for k, row in rows.items() if k[:2] not in replaced]:
        if key in stored and stored[key] > as_utc(rows[key].as_of):
            del rows[key]
    # Two deletes and one insert, however many records: the replaced accounts' rows, and
    # the earlier rows of every other (vendor account, SKU) the batches report.
    await repo.delete_usage(replaced, [key for key in rows if key[:2] not in replaced])
    for row in rows.values():
        repo.add(row)
    await repo.session.flush()
    return touched


# --- recompute ----------------------------------------------------------------------------


async def _auto_map(
    session: AsyncSession,
    repo: Repository,
    data: Any,
    settings: r.BillingSettings,
    cause: Envelope[Any] | None,
) -> bool:
    """Map exact matches (and, above the tenant's threshold, fuzzy ones) without a person."""
    mapped_accounts = {(m_.vendor, m_.vendor_account) for m_ in data.account_mappings}
    refs = {
        (u.vendor, u.vendor_account_id): d.VendorAccountRef(
            vendor=u.vendor,
            vendor_account=u.vendor_account_id,
            name=u.vendor_account_name or u.vendor_account_id,
            psa_account_hint=u.psa_account_hint,
        )
        for u in data.usage
        if (u.vendor, u.vendor_account_id) not in mapped_accounts
    }
    changed = False
    if refs and data.accounts:
        accounts = [st.account(a) for a in data.accounts]
        account_names = {a.account_id: a.name for a in data.accounts}
        suggestions = d.suggest_account_mappings(refs.values(), accounts, limit=1)
        threshold = settings.auto_map_threshold
        for mapping in d.mappings_to_apply(suggestions, auto_apply_threshold=threshold):
            await repo.merge(
                AccountMappingRow(
                    tenant_id=repo.tenant_id,
                    vendor=mapping.vendor,
                    vendor_account=mapping.vendor_account,
                    account_id=mapping.account_id,
                    excluded=False,
                    automatic=True,
                    updated_at=_now(),
                    updated_by="automatic",
                )
            )
            await announce(
                session,
                repo.tenant_id,
                m.MappingChanged(
                    kind="account",
                    change="mapped",
                    vendor=mapping.vendor,
                    vendor_key=mapping.vendor_account,
                    target_id=mapping.account_id,
                    actor=SYSTEM,
                    automatic=True,
                    vendor_key_name=refs[(mapping.vendor, mapping.vendor_account)].name,
                    target_name=account_names.get(mapping.account_id or "", ""),
                ),
                cause,
            )
            changed = True
    mapped_skus = {(s.vendor, s.sku) for s in data.service_mappings}
    skus = dict.fromkeys(
        d.VendorSkuRef(u.vendor, u.sku, u.sku_name or "")
        for u in data.usage
        if (u.vendor, u.sku) not in mapped_skus
    )
    lines = [st.service_line(line) for line in data.service_lines]
    line_names = {line.service_line_id: line.name for line in data.service_lines}
    sku_names = {(ref.vendor, ref.sku): ref.name for ref in skus if ref.name}
    for sku_mapping in d.service_mappings_to_apply(skus, lines):
        await repo.merge(
            ServiceMappingRow(
                tenant_id=repo.tenant_id,
                vendor=sku_mapping.vendor,
                sku=sku_mapping.sku,
                service_line_id=sku_mapping.service_line_id or "",
                factor=Decimal(1),
                rounding=d.RoundingRule.UP.value,
                excluded=False,
                automatic=True,
            )
        )
        await announce(
            session,
            repo.tenant_id,
            m.MappingChanged(
                kind="service",
                change="mapped",
                vendor=sku_mapping.vendor,
                vendor_key=sku_mapping.sku,
                target_id=sku_mapping.service_line_id,
                actor=SYSTEM,
                automatic=True,
                vendor_key_name=sku_names.get((sku_mapping.vendor, sku_mapping.sku), ""),
                target_name=line_names.get(sku_mapping.service_line_id or "", ""),
            ),
            cause,
        )
        changed = True
    return changed


FREEZE_FROM_ROWS = 20_000
"""A tenant index this large is kept out of the garbage collector's full collections,
which would otherwise walk it on every one of them: at 100,000 line items that took a
webhook update from 15 ms to 50 ms (`tests/bench/bench_reconcile_growth.py`)."""

INDEXES = TenantIndexCache(budget=1_000_000)
"""This replica's in-memory tenant indexes (see `index_cache`); `main.build` sets the budget."""


async def recompute(
    session: AsyncSession,
    tenant_id: str,
    *,
    reason: str,
    cause: Envelope[Any] | None = None,
    today: date | None = None,
) -> list[str]:
    """Recompute every card of the tenant; store and announce the ones that changed."""
    repo = Repository(session, tenant_id)
    await repo.locked_settings_row()
    INDEXES.forget(tenant_id)
    settings = await billing_settings(repo)
    data = await repo.load()
    if await _auto_map(session, repo, data, settings, cause):
        await session.flush()
        data = await repo.load()
    now = _now()
    today = today or now.date()
    index = d.TenantIndex(st.tenant_state(data, settings))
    result = d.reconcile(index, today=today, now=now)
    changed = await _store_cards(
        repo, settings, index, result.cards, {c.card_id: c for c in data.cards}, now
    )
    settings_row = await repo.settings_row()
    if settings_row is None:
        await repo.merge(
            TenantSettingsRow(
                tenant_id=tenant_id, settings={}, active_accounts=result.active_accounts
            )
        )
    elif settings_row.active_accounts != result.active_accounts:
        settings_row.active_accounts = result.active_accounts
    token = new_token()
    await repo.set_inputs_token(token)
    weight = len(data.line_items) + len(data.usage) + len(data.cards)
    INDEXES.put(tenant_id, CachedIndex(token, index, today, weight))
    if weight >= FREEZE_FROM_ROWS:
        freeze_long_lived()
    await _announce_cards(session, repo, changed, reason, cause)
    await _auto_approve(session, tenant_id, result.cards, cause, today)
    return changed


async def recompute_usage(
    session: AsyncSession,
    tenant_id: str,
    keys: set[tuple[str, str]],
    *,
    cause: Envelope[Any] | None = None,
    today: date | None = None,
) -> list[str] | None:
    """Apply stored usage of these (vendor, vendor account) pairs to the tenant's index and
    recompute only the accounts they feed; None when the index is not at hand (or the
    usage is unmapped, which may map it automatically): then `recompute` does it all."""
    repo = Repository(session, tenant_id)
    settings_row = await repo.locked_settings_row()
    now = _now()
    today = today or now.date()
    cached = INDEXES.check_out(
        tenant_id, settings_row.inputs_token if settings_row else None, today
    )
    if cached is None:
        return None
    index = cached.index
    rows = await repo.usage_of(keys)
    if any(key not in index.account_mappings for key in keys) or any(
        (row.vendor, row.sku) not in index.service_mappings for row in rows
    ):
        return None
    by_key: dict[tuple[str, str], list[d.VendorUsage]] = {key: [] for key in keys}
    for row in rows:
        by_key[(row.vendor, row.vendor_account_id)].append(st.usage(row))
    affected: set[str] = set()
    for (key_vendor, vendor_account), records in by_key.items():
        affected |= index.replace_usage(key_vendor, vendor_account, records)
    settings = await billing_settings(repo)
    cards = [
        card
        for account_id in sorted(affected)
        for card in index.reconcile_account(account_id, today=today, now=now).cards
    ]
    existing = {c.card_id: c for c in await repo.cards_of(affected)} if affected else {}
    changed = await _store_cards(repo, settings, index, cards, existing, now)
    cached.token = new_token()
    await repo.set_inputs_token(cached.token)
    INDEXES.put(tenant_id, cached)
    await _announce_cards(session, repo, changed, "usage", cause)
    await _auto_approve(session, tenant_id, cards, cause, today)
    return changed


async def _card_state_changed(repo: Repository, card: CardRow) -> None:
    """Keep the tenant's index in step with a card's new state (see `index_cache`)."""
    await repo.bump_cards_version()
    settings_row = await repo.locked_settings_row()
    cached = INDEXES.check_out(
        repo.tenant_id, settings_row.inputs_token if settings_row else None, _now().date()
    )
    token = new_token()
    await repo.set_inputs_token(token)
    if cached is not None:
        cached.index.set_card_record(card.card_id, st.card_record(card))
        cached.token = token
        INDEXES.put(repo.tenant_id, cached)


async def _store_cards(
    repo: Repository,
    settings: r.BillingSettings,
    index: d.TenantIndex,
    cards: Sequence[d.Card],
    existing: dict[str, CardRow],
    now: datetime,
) -> list[str]:
    """Store the computed cards that differ from `existing`, delete those of `existing`
    no longer computed; return the ids of both."""
    limits = st.large_change_limits(settings)
    changed: list[str] = []
    existing = dict(existing)
    for card in cards:
        account = index.accounts.get(card.account_id)
        line = index.service_lines.get(card.service_line_id or "")
        contract = index.contracts.get(card.contract_id or "")
        row = st.card_row(
            card,
            account_name=account.name if account else card.account_id,
            service_line_name=line.name if line else (card.service_line_id or ""),
            contract_name=contract.name if contract else "",
            now=now,
            large_change=limits,
        )
        old = existing.pop(card.id, None)
        if old is not None:
            row.error = old.error if row.state in ("failed", "conflict") else None
            row.last_job_id = old.last_job_id
            row.planned_effective_date = old.planned_effective_date
            if old.fingerprint == row.fingerprint and old.error == row.error:
                continue
        if line is not None and line.vendor_tag is None and card.vendors:
            # An import tags the service lines it feeds with its vendor.
            line = replace(line, vendor_tag=card.vendors[0])
            index.service_lines[line.id] = line
            line_row = await repo.get(ServiceLineRow, line.id)
            if line_row is not None:
                line_row.vendor_tag = line.vendor_tag
        if old is None:
            repo.add(row)
        else:
            repo.overwrite(old, row)
        changed.append(card.id)
    for gone in existing:
        await repo.delete_where(CardRow, CardRow.card_id == gone)
        changed.append(gone)
    return changed


async def _announce_cards(
    session: AsyncSession,
    repo: Repository,
    changed: list[str],
    reason: str,
    cause: Envelope[Any] | None,
) -> None:
    if changed:
        await repo.bump_cards_version()
        await announce(
            session, repo.tenant_id, m.CardsChanged(card_ids=changed, reason=reason), cause
        )
    await repo.session.flush()


async def _auto_approve(
    session: AsyncSession,
    tenant_id: str,
    cards: Sequence[d.Card],
    cause: Envelope[Any] | None,
    today: date,
) -> None:
    """Approve the pending cards an approval rule covers, as the rule."""
    for card in cards:
        if card.auto_approval is not None and card.state is d.CardState.PENDING and not card.hidden:
            await act(
                session,
                tenant_id,
                r.ActionQuery(
                    card_id=card.id,
                    action="approve",
                    actor=m.Actor(
                        kind="rule",
                        id=card.auto_approval.rule_name,
                        name=card.auto_approval.explanation,
                    ),
                    idempotency_key=f"rule:{card.id}:{today.isoformat()}",
                ),
                cause=cause,
                today=today,
            )


# --- actions ------------------------------------------------------------------------------


def _changes(request: r.ChangeRequest, card: CardRow, default_date: date) -> list[m.ProratedChange]:
    """The steps a change request writes, in date order (see `d.change_steps`).

    The request's own quantity (or, when it names no step at all, the card's target) is
    the main change, from its effective date; prorated changes are further steps.
    """
    quantity = request.quantity
    if quantity is None and not request.prorated_changes:
        quantity = card.target_quantity
        if quantity is None:
            raise QueryFailedError(
                422,
                "No quantity",
                "This card has no vendor quantity; enter the quantity to write.",
            )
    wanted = [d.QuantityChange(c.effective_date, c.quantity) for c in request.prorated_changes]
    if quantity is not None:
        wanted.append(d.QuantityChange(request.effective_date or default_date, quantity))
    try:
        steps = d.change_steps(card.psa_quantity, wanted)
        changes = [m.ProratedChange(effective_date=s.effective, quantity=s.quantity) for s in steps]
    except d.DomainError as exc:
        raise QueryFailedError(422, "Invalid change", str(exc)) from exc
    except ValidationError as exc:
        # The card's own target can be out of range (usage summed past the limit).
        raise QueryFailedError(422, "Invalid change", _first_error(exc)) from exc
    if not changes:
        raise QueryFailedError(
            422,
            "Nothing to write",
            f"This change leaves the quantity at {card.psa_quantity}; nothing would be written.",
        )
    return changes


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"


async def act(
    session: AsyncSession,
    tenant_id: str,
    request: r.ActionQuery,
    *,
    cause: Envelope[Any] | None = None,
    today: date | None = None,
) -> r.ActionAccepted:
    """Approve, add, dismiss, restore or retry one card; idempotent by its key."""
    repo = Repository(session, tenant_id)
    previous = await repo.action_by_key(request.idempotency_key)
    if previous is not None:
        return r.ActionAccepted(
            action_id=previous.action_id,
            card_id=previous.card_id,
            state=previous.result_state,  # type: ignore[arg-type]
        )
    card = await repo.card(request.card_id)
    if card is None:
        raise QueryFailedError(404, "Not Found", f"No card {request.card_id}.")
    today = today or _now().date()
    action_id = new_id()
    detail: dict[str, Any] = {"reason": request.reason}
    outgoing: list[Payload] = []
    contract_row = await repo.get(ContractRow, card.contract_id) if card.contract_id else None

    if request.action == "restore":
        if card.state != "dismissed":
            raise QueryFailedError(
                409, "Conflict", f"Only a dismissed card can be restored; this one is {card.state}."
            )
        card.state, card.hidden, card.actioned_on = "pending", False, None
        detail["restored_from"] = "dismissed"
    elif request.action == "retry":
        if card.state != "failed" or not card.last_job_id:
            raise QueryFailedError(
                409,
                "Conflict",
                f"Only a failed writeback can be retried; this card is {card.state}.",
            )
        outgoing.append(m.RetryWriteback(job_id=card.last_job_id, actor=request.actor))
        card.state, card.error, card.hidden = "approved", None, True
    elif request.action == "set_effective_date":
        if request.change.effective_date is None:
            raise QueryFailedError(422, "Invalid request", "effective_date is required.")
        _check_date(contract_row, request.change.effective_date, today)
        card.planned_effective_date = request.change.effective_date
        detail["effective_date"] = request.change.effective_date.isoformat()
    else:
        if card.state != "pending" or card.hidden:
            raise QueryFailedError(
                409,
                "Conflict",
                f"This card is {card.state} and cannot be {request.action}d; refresh to see it.",
            )
        if request.action == "dismiss":
            card.state, card.hidden, card.actioned_on = "dismissed", True, today
        else:
            command = await _writeback_command(repo, card, contract_row, request, action_id, today)
            large = _large_change(card, command.changes, await billing_settings(repo))
            if large is not None and not request.confirm:
                raise QueryFailedError(
                    409,
                    "Confirmation required",
                    f"This is a large change ({large}); confirm it to {request.action} "
                    '(in the API: "confirm": true).',
                )
            detail["large_change"] = large
            outgoing.append(command)
            card.state, card.hidden, card.actioned_on = "approved", True, today
            detail["changes"] = [c.model_dump(mode="json") for c in command.changes]
    await repo.add_action(
        ActionRow(
            tenant_id=tenant_id,
            action_id=action_id,
            idempotency_key=request.idempotency_key,
            card_id=card.card_id,
            kind=request.action,
            actor=request.actor.model_dump(mode="json"),
            detail=detail,
            result_state=card.state,
            created_at=_now(),
        )
    )
    card.updated_at = _now()
    card.fingerprint = st.fingerprint(card)
    await _card_state_changed(repo, card)
    if request.action in ("approve", "add", "dismiss", "restore"):
        first = outgoing[0] if outgoing else None
        changes = first.changes if isinstance(first, m.ApplyWriteback) else []
        outgoing.insert(
            0,
            m.ActionRecorded(
                action_id=action_id,
                card_id=card.card_id,
                action=request.action,  # type: ignore[arg-type]
                actor=request.actor,
                account_name=card.account_name,
                service_line=card.service_line,
                contract_psa_id=card.contract_id,
                account_id=card.account_id or None,
                contract_name=_contract_name(first, contract_row),
                quantity_before=card.psa_quantity,
                quantity_after=changes[-1].quantity if changes else None,
                unit_price=first.unit_price
                if isinstance(first, m.ApplyWriteback)
                else card.unit_price,
                effective_date=changes[0].effective_date if changes else None,
                reason=request.reason,
                unit_price_before=card.unit_price if card.line_item_id else None,
                changes=list(changes),
            ),
        )
    for payload in outgoing:
        await announce(session, tenant_id, payload, cause)
    await announce(
        session, tenant_id, m.CardsChanged(card_ids=[card.card_id], reason=request.action), cause
    )
    log.info(
        "card actioned",
        tenant_id=tenant_id,
        card_id=card.card_id,
        action=request.action,
        state=card.state,
    )
    return r.ActionAccepted(action_id=action_id, card_id=card.card_id, state=card.state)  # type: ignore[arg-type]


def _contract_name(command: Payload | None, contract_row: ContractRow | None) -> str:
    # An add may go to another contract of the account than the card's own.
    if isinstance(command, m.ApplyWriteback):
        return command.contract_name
    return contract_row.name if contract_row else ""


def _large_change(
    card: CardRow, changes: Sequence[m.ProratedChange], settings: r.BillingSettings
) -> str | None:
    """Why these steps make a large change (any step past a limit), or None."""
    limits = st.large_change_limits(settings)
    for change in changes:
        why = d.explain_large_change(card.psa_quantity, change.quantity, card.unit_price, limits)
        if why is not None:
            return why
    return None


def _check_date(contract_row: ContractRow | None, effective: date, today: date) -> None:
    if contract_row is None:
        return
    try:
        d.check_effective_date(st.contract(contract_row), effective, today)
    except d.DomainError as exc:
        raise QueryFailedError(422, "Effective date not allowed", str(exc)) from exc


async def _writeback_command(
    repo: Repository,
    card: CardRow,
    contract_row: ContractRow | None,
    request: r.ActionQuery,
    action_id: str,
    today: date,
) -> m.ApplyWriteback:
    if request.action == "add":
        if card.kind != "new_revenue":
            raise QueryFailedError(409, "Conflict", "Only a New Revenue card can be added.")
        contract_id = request.contract_id or card.contract_id
        contract_row = await repo.get(ContractRow, contract_id) if contract_id else None
        if contract_row is None or contract_row.account_id != card.account_id:
            raise QueryFailedError(
                422, "Invalid contract", "Choose an active contract of this card's account."
            )
    elif card.kind == "new_revenue":
        raise QueryFailedError(409, "Conflict", "A New Revenue card is added, not approved.")
    if contract_row is None:
        raise QueryFailedError(409, "Conflict", "The card's contract is no longer in the PSA.")
    contract = st.contract(contract_row)
    default_date = card.planned_effective_date or d.default_effective_date(contract, today)
    changes = _changes(request.change, card, default_date)
    for change in changes:
        _check_date(contract_row, change.effective_date, today)
    line = await repo.get(ServiceLineRow, card.service_line_id) if card.service_line_id else None
    prorate = request.prorate or (
        contract_row.proration_allowed
        and (len(changes) > 1 or bool(request.change.prorated_changes))
    )
    return m.ApplyWriteback(
        idempotency_key=f"{repo.tenant_id}:{action_id}",
        card_id=card.card_id,
        action_id=action_id,
        action="add" if request.action == "add" else "approve",
        actor=request.actor,
        connection_id=contract_row.connection_id,
        psa=contract_row.psa or "connectwise",  # type: ignore[arg-type]
        contract_psa_id=contract_row.contract_id,
        line_item_psa_id=card.line_item_id,
        product_id=line.product_id if line else None,
        product_name=line.name if line else card.service_line,
        account_name=card.account_name,
        expected_quantity=card.psa_quantity if request.action == "approve" else None,
        changes=changes,
        unit_price=request.unit_price if request.unit_price is not None else card.unit_price,
        unit_cost=request.unit_cost if request.unit_cost is not None else card.unit_cost,
        prorate=prorate and contract_row.proration_allowed,
        account_id=card.account_id or None,
        contract_name=contract_row.name,
    )


async def bulk(
    session: AsyncSession, tenant_id: str, request: Envelope[r.BulkActionQuery]
) -> r.BulkResult:
    """The same action over a selection or a filter; each card succeeds or fails alone."""
    query = request.payload
    repo = Repository(session, tenant_id)
    ids = list(query.card_ids)
    if query.filter is not None:
        rows = await repo.cards(_where(query.filter), [CardRow.card_id])
        ids.extend(row.card_id for row in rows if row.card_id not in ids)
    accepted: list[r.ActionAccepted] = []
    rejected: list[r.BulkRejection] = []
    for card_id in ids:
        try:
            async with session.begin_nested():
                accepted.append(
                    await act(
                        session,
                        tenant_id,
                        r.ActionQuery(
                            card_id=card_id,
                            action=query.action,
                            actor=query.actor,
                            idempotency_key=f"{query.idempotency_key}:{card_id}",
                            change=r.ChangeRequest(effective_date=query.effective_date),
                            reason=query.reason,
                            confirm=query.confirm,
                        ),
                        cause=request,
                    )
                )
        except QueryFailedError as exc:
            rejected.append(r.BulkRejection(card_id=card_id, status=exc.status, detail=exc.detail))
    return r.BulkResult(accepted=accepted, rejected=rejected)


async def apply_writeback_outcome(
    session: AsyncSession,
    envelope: Envelope[m.WritebackApplied]
    | Envelope[m.WritebackConflict]
    | Envelope[m.WritebackFailed],
) -> None:
    """Move the card to applied, conflict or failed (the last two stay visible)."""
    outcome = envelope.payload
    repo = Repository(session, envelope.tenant_id)
    card = await repo.card(outcome.card_id)
    if card is None:
        return
    if isinstance(outcome, m.WritebackApplied):
        card.state, card.error = "applied", None
    elif isinstance(outcome, m.WritebackConflict):
        card.state, card.hidden = "conflict", False
        card.error = (
            f"The PSA now shows {outcome.found_quantity}, not the {outcome.expected_quantity} "
            "this card showed; nothing was written. Check the PSA, then reconcile again."
        )
    else:
        card.state, card.hidden = "failed", False
        card.error = outcome.error
        card.last_job_id = outcome.job_id
    card.updated_at = _now()
    card.fingerprint = st.fingerprint(card)
    await _card_state_changed(repo, card)
    await announce(
        session,
        envelope.tenant_id,
        m.CardsChanged(card_ids=[card.card_id], reason=f"writeback.{card.state}"),
        envelope,
    )


# --- queries --------------------------------------------------------------------------------


def _where(f: r.CardFilter) -> list[Any]:
    where: list[Any] = []
    if not f.include_hidden:
        where.append(CardRow.hidden.is_(False))
    if f.kind:
        where.append(CardRow.kind == f.kind)
    if f.state:
        where.append(CardRow.state == f.state)
    if f.vendor:
        where.append(CardRow.vendors.contains(f.vendor))
    if f.service_line_id:
        where.append(CardRow.service_line_id == f.service_line_id)
    if f.account_id:
        where.append(CardRow.account_id == f.account_id)
    if f.contract_id:
        where.append(CardRow.contract_id == f.contract_id)
    if f.q:
        like = f"%{f.q.lower()}%"
        where.append(
            sa.or_(
                sa.func.lower(CardRow.account_name).like(like),
                sa.func.lower(CardRow.service_line).like(like),
                sa.func.lower(CardRow.contract_name).like(like),
            )
        )
    return where


_SORTS: dict[str, Sequence[Any]] = {
    "service_line": (CardRow.service_line, CardRow.account_name, CardRow.card_id),
    "account": (CardRow.account_name, CardRow.service_line, CardRow.card_id),
    "contract": (CardRow.contract_name, CardRow.service_line, CardRow.card_id),
    "updated": (CardRow.updated_at.desc(), CardRow.card_id),
}


# Totals per filter, kept against the tenant's cards version (and rounding rule), so that
# paging a large list does not add them up again until a card changes.
_TOTALS: dict[tuple[str, str, str], tuple[int, r.CardTotals]] = {}


def _where_key(where: Sequence[Any]) -> str:
    return " AND ".join(
        str(clause.compile(compile_kwargs={"literal_binds": True})) for clause in where
    )


async def card_totals(
    repo: Repository, where: Sequence[Any], policy: d.RoundingPolicy
) -> r.CardTotals:
    """Count of the matching cards and their monthly money, one row per currency.

    Summed in Python by the domain's `summarise_money`: on SQLite the amounts are text, and
    SQL's SUM would go through floats; and no total may add two currencies or two periods.
    """
    key = (repo.tenant_id, _where_key(where), policy.mode.value)
    version = await repo.cards_version()
    cached = _TOTALS.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = await repo.card_prices(where)
    summaries = d.summarise_money(st.card_figures(row, policy) for row in rows)
    totals = r.CardTotals(
        cards=len(rows),
        by_currency=[
            r.CurrencyTotals(
                currency=currency,
                cards=summary.card_count,
                mrr_change=summary.mrr_change.amount,
                mrr_cost_change=summary.mrr_cost_change.amount,
                mrr_profit_change=summary.mrr_profit_change.amount,
            )
            for currency, summary in summaries.items()
        ],
    )
    if len(_TOTALS) > 1024:
        _TOTALS.clear()
    _TOTALS[key] = (version, totals)
    return totals


async def pending_totals(session: AsyncSession, tenant_id: str) -> r.CardTotals:
    """Totals of the pending work: cards that differ or are new (agreeing ones need nothing)."""
    repo = Repository(session, tenant_id)
    where = [
        *_where(r.CardFilter(state="pending")),
        CardRow.kind.in_((d.CardKind.RECONCILE.value, d.CardKind.NEW_REVENUE.value)),
    ]
    policy = st.domain_settings(await billing_settings(repo)).rounding
    return await card_totals(repo, where, policy)


async def list_cards(session: AsyncSession, tenant_id: str, query: r.ListCardsQuery) -> r.CardList:
    """A page of cards; the cursor is an offset into a stable order (ties broken by id)."""
    repo = Repository(session, tenant_id)
    where = _where(query.filter)
    offset = int(query.cursor) if query.cursor and query.cursor.isdigit() else 0
    policy = st.domain_settings(await billing_settings(repo)).rounding
    if query.sort in ("delta", "revenue"):
        # Decimal columns are text on SQLite, so numeric order is taken in Python.
        rows = list(await repo.cards(where, [CardRow.card_id]))
        if query.sort == "delta":
            rows.sort(key=lambda c: abs(c.delta), reverse=True)
        else:
            # By monthly revenue: a quarter's change is not three times as large a change.
            def mrr(row: CardRow) -> Decimal:
                money = st.card_figures(row, policy)
                return abs(money.mrr_change.amount) if money else Decimal(0)

            rows.sort(key=mrr, reverse=True)
        page = rows[offset : offset + query.limit + 1]
    else:
        statement = (
            sa.select(CardRow)
            .where(CardRow.tenant_id == tenant_id, *where)
            .order_by(*_SORTS[query.sort])
            .offset(offset)
            .limit(query.limit + 1)
        )
        page = list((await session.scalars(statement)).all())
    units = await repo.sales_units()
    items = [
        st.card_item(row, policy=policy, sales_unit=units.get(row.service_line_id or ""))
        for row in page[: query.limit]
    ]
    return r.CardList(
        items=items,
        next_cursor=str(offset + query.limit) if len(page) > query.limit else None,
        totals=await card_totals(repo, where, policy),
    )


async def card_details(session: AsyncSession, tenant_id: str, card_id: str) -> r.CardDetails:
    repo = Repository(session, tenant_id)
    card = await repo.card(card_id)
    if card is None:
        raise QueryFailedError(404, "Not Found", f"No card {card_id}.")
    contract_row = await repo.get(ContractRow, card.contract_id) if card.contract_id else None
    today = _now().date()
    facts = None
    default_date = today
    if contract_row is not None:
        facts = contract_facts(contract_row)
        default_date = card.planned_effective_date or d.default_effective_date(
            st.contract(contract_row), today
        )
    account = await repo.get(AccountRow, card.account_id)
    mappings = await repo.all_of(AccountMappingRow, AccountMappingRow.account_id == card.account_id)
    usage_names = {
        (u.vendor, u.vendor_account_id): u.vendor_account_name for u in await repo.all_of(Usage)
    }
    settings_row = await repo.settings_row()
    policy = st.domain_settings(await billing_settings(repo)).rounding
    units = await repo.sales_units()
    return r.CardDetails(
        card=st.card_item(card, policy=policy, sales_unit=units.get(card.service_line_id or "")),
        contract=facts,
        names=r.CardNames(
            psa_account_name=account.name if account else card.account_name,
            psa_contract_name=card.contract_name,
            vendor_accounts=[
                r.VendorAccountName(
                    vendor=row.vendor,
                    vendor_account=row.vendor_account,
                    name=usage_names.get((row.vendor, row.vendor_account), row.vendor_account),
                    mapping="automatic" if row.automatic else "manual",
                )
                for row in mappings
                if not row.excluded
            ],
            psa_synced_at=settings_row.last_sync_at if settings_row else None,
            usage_as_of=card.usage_as_of,
        ),
        change=r.ChangeFacts(
            vendor_quantity=card.vendor_quantity,
            psa_quantity=card.psa_quantity,
            target_quantity=card.target_quantity,
            billed_elsewhere=card.billed_elsewhere,
            shared_with=[
                r.SharedLine(
                    card_id=other.card_id,
                    contract_name=other.contract_name,
                    line_item_id=other.line_item_id,
                    psa_quantity=other.psa_quantity,
                )
                for other in await _shared_lines(repo, card)
            ],
            unit_price=card.unit_price,
            unit_cost=card.unit_cost,
            default_effective_date=default_date,
            proration_allowed=contract_row.proration_allowed if contract_row else False,
            contributions=[r.Contribution.model_validate(c) for c in card.contributions],
        ),
    )


async def _shared_lines(repo: Repository, card: CardRow) -> Sequence[CardRow]:
    """The other line items of the card's account that bill its service line."""
    if card.line_item_id is None or card.service_line_id is None:
        return []
    return await repo.cards(
        [
            CardRow.account_id == card.account_id,
            CardRow.service_line_id == card.service_line_id,
            CardRow.line_item_id.is_not(None),
            CardRow.card_id != card.card_id,
        ],
        [CardRow.contract_name, CardRow.line_item_id],
    )


def contract_facts(row: ContractRow) -> r.ContractFacts:
    return r.ContractFacts(
        contract_id=row.contract_id,
        name=row.name,
        psa=row.psa,
        status=row.status,
        start_date=row.start_date,
        end_date=row.end_date,
        billing_cycle=row.billing_cycle,
        bill_in_advance=row.bill_in_advance,
        proration_allowed=row.proration_allowed,
        currency=row.currency,
        dated_changes=row.dated_changes,
    )


async def preview(session: AsyncSession, tenant_id: str, query: r.PreviewQuery) -> r.ChangePreview:
    """Exactly the lines approving would write, with their revenue and profit effect."""
    repo = Repository(session, tenant_id)
    row = await repo.card(query.card_id)
    if row is None:
        raise QueryFailedError(404, "Not Found", f"No card {query.card_id}.")
    contract_row = await repo.get(ContractRow, row.contract_id) if row.contract_id else None
    if contract_row is None:
        raise QueryFailedError(409, "Conflict", "The card's contract is no longer in the PSA.")
    settings = await billing_settings(repo)
    today = _now().date()
    contract = st.contract(contract_row)
    default_date = row.planned_effective_date or d.default_effective_date(contract, today)
    changes = _changes(query.change, row, default_date)
    for change in changes:
        _check_date(contract_row, change.effective_date, today)
    unit_price = row.unit_price
    if unit_price is None:
        raise QueryFailedError(422, "No price", "Enter a unit price to preview this change.")
    unit_cost = row.unit_cost or Decimal(0)
    domain_settings = st.domain_settings(settings)
    steps = [d.QuantityChange(c.effective_date, c.quantity) for c in changes]
    try:
        preview_, cost_preview = (
            d.preview_changes(
                contract,
                quantity_before=row.psa_quantity,
                unit_price=price,
                changes=steps,
                today=today,
                convention=domain_settings.proration,
                policy=domain_settings.rounding,
            )
            for price in (unit_price, unit_cost)
        )
    except d.DomainError as exc:
        raise QueryFailedError(422, "Invalid change", str(exc)) from exc
    lines = []
    for line, cost_line in zip(preview_.lines, cost_preview.lines, strict=True):
        lines.append(
            r.PreviewLine(
                effective_date=line.effective,
                quantity_before=line.quantity_before,
                quantity_after=line.quantity_after,
                period_start=line.period.start,
                period_end=line.period.end,
                days=line.days_charged,
                revenue=line.amount.amount,
                cost=cost_line.amount.amount,
                profit=line.amount.amount - cost_line.amount.amount,
            )
        )
    revenue = preview_.total.amount
    cost = cost_preview.total.amount
    delta = preview_.final_quantity - row.psa_quantity
    months = Decimal(d.BillingCycle(contract_row.billing_cycle).months)
    mrr = d.round_amount(delta * unit_price / months, contract_row.currency)
    after = preview_.final_quantity * unit_price
    margin = (
        # A percentage with two decimals, not money: no currency rounding applies.
        ((after - preview_.final_quantity * unit_cost) / after * 100).quantize(Decimal("0.01"))
        if after
        else None
    )
    before = row.psa_quantity
    preview_steps = []
    for change in changes:
        preview_steps.append(
            r.PreviewStep(
                effective_date=change.effective_date,
                quantity_before=before,
                quantity_after=change.quantity,
            )
        )
        before = change.quantity
    return r.ChangePreview(
        large_change=_large_change(row, changes, settings),
        steps=preview_steps,
        lines=lines,
        revenue_change=revenue,
        cost_change=cost,
        profit_change=revenue - cost,
        mrr_change=mrr,
        margin=margin,
        currency=contract_row.currency,
    )
