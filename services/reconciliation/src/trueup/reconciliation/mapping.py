"""Mapping use cases: account and service mappings, suggestions, the unmapped queue,
service lines, and the per-account New Revenue switch. Each change recomputes at once."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from trueup import domain as d
from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import state as st
from trueup.reconciliation.announcements import announce
from trueup.reconciliation.models import (
    AccountMappingRow,
    AccountRow,
    CardRow,
    ContractRow,
    ServiceLineRow,
    ServiceMappingRow,
    Usage,
)
from trueup.reconciliation.recompute import recompute
from trueup.reconciliation.repository import Repository

Change = Literal["mapped", "unmapped", "excluded", "updated"]


def _vendor_accounts(usage: list[Usage]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for u in usage:
        entry = out.setdefault(
            (u.vendor, u.vendor_account_id),
            {
                "name": u.vendor_account_name or u.vendor_account_id,
                "count": 0,
                "sources": set(),
                "hint": u.psa_account_hint,
            },
        )
        entry["count"] += 1
        entry["sources"].add(u.source)
    return out


async def list_account_mappings(
    session: AsyncSession, tenant_id: str, query: r.ListAccountMappings
) -> r.AccountMappingList:
    """Every vendor account with usage, its mapping, and scored suggestions when unmapped."""
    repo = Repository(session, tenant_id)
    threshold = d.suggestion_threshold((await repo.billing_settings()).suggestion_threshold)
    usage = list(await repo.all_of(Usage))
    accounts = list(await repo.all_of(AccountRow))
    names = {a.account_id: a.name for a in accounts}
    mappings = {
        (row.vendor, row.vendor_account_id): row for row in await repo.all_of(AccountMappingRow)
    }
    vendor_accounts = _vendor_accounts(usage)
    unmapped_refs = [
        d.VendorAccountRef(
            vendor=v, vendor_account_id=k, name=info["name"], psa_account_hint=info["hint"]
        )
        for (v, k), info in vendor_accounts.items()
        if (v, k) not in mappings
    ]
    suggestions: dict[tuple[str, str], list[r.Suggestion]] = defaultdict(list)
    for s in d.suggest_account_mappings(unmapped_refs, [st.account(a) for a in accounts]):
        listed = suggestions[(s.vendor, s.vendor_account_id)]
        listed.append(
            r.Suggestion(
                account_id=s.account_id,
                account_name=s.account_name,
                score=s.score,
                reason=s.reason,
                preselect=d.preselected(len(listed), s.score, threshold),
            )
        )
    items: list[r.AccountMappingView] = []
    for (vendor, key), info in sorted(vendor_accounts.items()):
        row = mappings.get((vendor, key))
        status = "unmapped" if row is None else ("excluded" if row.excluded else "mapped")
        if query.status != "all" and status != query.status:
            continue
        items.append(
            r.AccountMappingView(
                vendor=vendor,
                vendor_account_id=key,
                vendor_account_name=info["name"],
                account_id=row.account_id if row else None,
                account_name=names.get(row.account_id or "") if row else None,
                status=status,  # type: ignore[arg-type]
                automatic=bool(row and row.automatic),
                usage_count=info["count"],
                sources=sorted(info["sources"]),
                suggestions=suggestions.get((vendor, key), []),
            )
        )
    return r.AccountMappingList(items=items, threshold=threshold)


async def change_account_mappings(
    session: AsyncSession, tenant_id: str, envelope: Envelope[r.ChangeAccountMappings]
) -> r.MappingChangeResult:
    """Map, exclude or unmap vendor accounts, one or many; recomputes the cards once."""
    repo = Repository(session, tenant_id)
    query = envelope.payload
    changed = 0
    change: Change
    for item in query.items:
        key = (item.vendor, item.vendor_account_id)
        existing = await repo.get(AccountMappingRow, *key)
        if item.action == "unmap":
            if existing is None:
                continue
            await repo.delete_where(
                AccountMappingRow,
                AccountMappingRow.vendor == item.vendor,
                AccountMappingRow.vendor_account_id == item.vendor_account_id,
            )
            change = "unmapped"
            target = None
        else:
            if item.action == "map" and (
                not item.account_id or await repo.get(AccountRow, item.account_id) is None
            ):
                raise QueryFailedError(
                    422,
                    "Invalid mapping",
                    f"{item.vendor}/{item.vendor_account_id}: choose an existing PSA account.",
                )
            await repo.merge(
                AccountMappingRow(
                    tenant_id=tenant_id,
                    vendor=item.vendor,
                    vendor_account_id=item.vendor_account_id,
                    account_id=item.account_id if item.action == "map" else None,
                    excluded=item.action == "exclude",
                    automatic=False,
                    updated_at=datetime.now(UTC),
                    updated_by=query.actor.id,
                )
            )
            change = "mapped" if item.action == "map" else "excluded"
            target = item.account_id if item.action == "map" else None
        previous = existing.account_id if existing is not None else None
        await announce(
            session,
            tenant_id,
            m.MappingChanged(
                kind="account",
                change=change,
                vendor=item.vendor,  # type: ignore[arg-type]
                vendor_key=item.vendor_account_id,
                target_id=target,
                actor=query.actor,
                vendor_key_name=await repo.vendor_account_name(item.vendor, item.vendor_account_id),
                target_name=await _account_name(repo, target),
                previous_target_id=previous,
                previous_target_name=await _account_name(repo, previous),
            ),
            envelope,
        )
        changed += 1
    if changed:
        await session.flush()
        await recompute(session, tenant_id, reason="mapping", cause=envelope)
    return r.MappingChangeResult(changed=changed)


async def _account_name(repo: Repository, account_id: str | None) -> str:
    account = await repo.get(AccountRow, account_id) if account_id else None
    return account.name if account else ""


async def list_service_mappings(session: AsyncSession, tenant_id: str) -> r.ServiceMappingList:
    """Every vendor SKU with usage, its mappings, and scored service lines when unmapped."""
    repo = Repository(session, tenant_id)
    threshold = d.suggestion_threshold((await repo.billing_settings()).suggestion_threshold)
    line_rows = list(await repo.all_of(ServiceLineRow))
    lines = {s.service_line_id: s.name for s in line_rows}
    usage = list(await repo.all_of(Usage))
    skus: dict[tuple[str, str], tuple[str, int]] = {}
    for u in usage:
        name, count = skus.get((u.vendor, u.sku), (u.sku_name or u.sku, 0))
        skus[(u.vendor, u.sku)] = (name, count + 1)
    rows = list(await repo.all_of(ServiceMappingRow))
    mapped = {(row.vendor, row.sku) for row in rows}
    suggestions: dict[tuple[str, str], list[r.ServiceLineSuggestion]] = defaultdict(list)
    unmapped_refs = [
        # A SKU without a name has its code as its name; the domain reads codes itself.
        d.VendorSkuRef(vendor, sku, name if name != sku else "")
        for (vendor, sku), (name, _) in skus.items()
        if (vendor, sku) not in mapped
    ]
    for s in d.suggest_service_mappings(unmapped_refs, [st.service_line(x) for x in line_rows]):
        listed = suggestions[(s.vendor, s.sku)]
        listed.append(
            r.ServiceLineSuggestion(
                service_line_id=s.service_line_id,
                service_line=s.service_line_name,
                score=s.score,
                reason=s.reason,
                preselect=d.preselected(len(listed), s.score, threshold),
            )
        )
    items = [
        r.ServiceMappingView(
            vendor=row.vendor,
            sku=row.sku,
            sku_name=skus.get((row.vendor, row.sku), (row.sku, 0))[0],
            service_line_id=row.service_line_id or None,
            service_line=lines.get(row.service_line_id),
            factor=row.factor,
            rounding=row.rounding,  # type: ignore[arg-type]
            excluded=row.excluded,
            usage_count=skus.get((row.vendor, row.sku), ("", 0))[1],
        )
        for row in rows
    ]
    items += [
        r.ServiceMappingView(
            vendor=vendor,
            sku=sku,
            sku_name=name,
            service_line_id=None,
            service_line=None,
            factor=Decimal(1),
            rounding="up",
            excluded=False,
            usage_count=count,
            suggestions=suggestions.get((vendor, sku), []),
        )
        for (vendor, sku), (name, count) in sorted(skus.items())
        if (vendor, sku) not in mapped
    ]
    return r.ServiceMappingList(items=items, threshold=threshold)


async def save_service_mapping(
    session: AsyncSession, tenant_id: str, envelope: Envelope[r.SaveServiceMapping]
) -> r.ServiceMappingView:
    query = envelope.payload
    repo = Repository(session, tenant_id)
    line = None
    if query.service_line_id:
        line = await repo.get(ServiceLineRow, query.service_line_id)
        if line is None:
            raise QueryFailedError(
                422, "Invalid mapping", f"No service line {query.service_line_id}."
            )
    elif not query.excluded and not query.remove:
        raise QueryFailedError(422, "Invalid mapping", "Choose a service line, or exclude the SKU.")
    line_key = query.service_line_id or ""
    change: Change
    if query.remove:
        await repo.delete_where(
            ServiceMappingRow,
            ServiceMappingRow.vendor == query.vendor,
            ServiceMappingRow.sku == query.sku,
            ServiceMappingRow.service_line_id == line_key,
        )
        change = "unmapped"
    else:
        if query.excluded:
            # Excluding a SKU replaces its mappings: it feeds nothing.
            await repo.delete_where(
                ServiceMappingRow,
                ServiceMappingRow.vendor == query.vendor,
                ServiceMappingRow.sku == query.sku,
            )
        await repo.merge(
            ServiceMappingRow(
                tenant_id=tenant_id,
                vendor=query.vendor,
                sku=query.sku,
                service_line_id=line_key,
                factor=query.factor,
                rounding=query.rounding,
                excluded=query.excluded,
                automatic=False,
            )
        )
        change = "excluded" if query.excluded else "mapped"
    await announce(
        session,
        tenant_id,
        m.MappingChanged(
            kind="service",
            change=change,
            vendor=query.vendor,  # type: ignore[arg-type]
            vendor_key=query.sku,
            target_id=query.service_line_id,
            actor=query.actor,
            vendor_key_name=await repo.sku_name(query.vendor, query.sku),
            target_name=line.name if line else "",
        ),
        envelope,
    )
    await session.flush()
    await recompute(session, tenant_id, reason="mapping", cause=envelope)
    return r.ServiceMappingView(
        vendor=query.vendor,
        sku=query.sku,
        sku_name=query.sku,
        service_line_id=query.service_line_id,
        service_line=line.name if line else None,
        factor=query.factor,
        rounding=query.rounding,
        excluded=query.excluded,
        usage_count=0,
    )


async def list_service_lines(session: AsyncSession, tenant_id: str) -> r.ServiceLineList:
    repo = Repository(session, tenant_id)
    counts: dict[str, int] = defaultdict(int)
    for card in await repo.all_of(CardRow, CardRow.hidden.is_(False)):
        counts[card.service_line_id or ""] += 1
    return r.ServiceLineList(
        items=[
            r.ServiceLineView(
                service_line_id=s.service_line_id,
                name=s.name,
                vendor_tag=s.vendor_tag,
                sales_unit=s.sales_unit,
                cards=counts.get(s.service_line_id, 0),
            )
            for s in sorted(await repo.all_of(ServiceLineRow), key=lambda s: s.name)
        ]
    )


async def update_service_line(
    session: AsyncSession, tenant_id: str, envelope: Envelope[r.UpdateServiceLine]
) -> r.ServiceLineView:
    query = envelope.payload
    repo = Repository(session, tenant_id)
    line = await repo.get(ServiceLineRow, query.service_line_id)
    if line is None:
        raise QueryFailedError(404, "Not Found", f"No service line {query.service_line_id}.")
    if query.clear_vendor_tag:
        line.vendor_tag = None
    elif query.vendor_tag is not None:
        line.vendor_tag = query.vendor_tag
    if query.sales_unit is not None:
        line.sales_unit = query.sales_unit
    await announce(
        session,
        tenant_id,
        m.MappingChanged(
            kind="service",
            change="updated",
            vendor=line.vendor_tag or "",
            vendor_key=line.service_line_id,
            target_id=line.service_line_id,
            actor=query.actor,
            vendor_key_name=line.name,
            target_name=line.name,
        ),
        envelope,
    )
    await session.flush()
    await recompute(session, tenant_id, reason="service_line", cause=envelope)
    return r.ServiceLineView(
        service_line_id=line.service_line_id,
        name=line.name,
        vendor_tag=line.vendor_tag,
        sales_unit=line.sales_unit,
        cards=0,
    )


async def unmapped_queue(session: AsyncSession, tenant_id: str) -> r.UnmappedQueue:
    """What has usage and no mapping, so 'clear to zero' is one screen."""
    repo = Repository(session, tenant_id)
    data = await repo.load()
    state = st.tenant_state(data, await repo.billing_settings())
    accounts, skus = d.TenantIndex(state).unmapped()
    return r.UnmappedQueue(
        accounts=[
            r.UnmappedItem(
                vendor=a.vendor,
                key=a.vendor_account_id,
                name=a.name,
                sources=list(a.sources),
                usage_count=a.usage_count,
                psa_account_hint=a.psa_account_hint,
            )
            for a in accounts
        ],
        skus=[
            r.UnmappedItem(
                vendor=s.vendor,
                key=s.sku,
                name=s.name,
                sources=list(s.sources),
                usage_count=s.usage_count,
            )
            for s in skus
        ],
        count=len(accounts) + len(skus),
    )


async def update_account(
    session: AsyncSession, tenant_id: str, envelope: Envelope[r.UpdateAccount]
) -> r.MappingChangeResult:
    repo = Repository(session, tenant_id)
    account = await repo.get(AccountRow, envelope.payload.account_id)
    if account is None:
        raise QueryFailedError(404, "Not Found", f"No account {envelope.payload.account_id}.")
    account.suppress_new_revenue = envelope.payload.suppress_new_revenue
    await session.flush()
    await recompute(session, tenant_id, reason="account", cause=envelope)
    return r.MappingChangeResult(changed=1)


async def account_contracts(
    session: AsyncSession, tenant_id: str, account_id: str
) -> r.ContractList:
    repo = Repository(session, tenant_id)
    if await repo.get(AccountRow, account_id) is None:
        raise QueryFailedError(404, "Not Found", f"No account {account_id}.")
    rows = await repo.all_of(ContractRow, ContractRow.account_id == account_id)
    return r.ContractList(items=[st.contract_facts(row) for row in rows])
