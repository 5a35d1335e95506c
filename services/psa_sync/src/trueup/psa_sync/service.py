"""psa_sync use cases: connections, and full or incremental syncs of a PSA.

A sync reads accounts, contracts and line items through the PSA client, keeps them as last
read (the projection), and stages snapshot events in the same transactions. Only active
contracts and their accounts reach reconciliation; a contract that stops being active, a
cancelled line item, and (on a full sync) anything the PSA no longer returns leave it.

A sync that crashes part-way is simply run again: the watermark only advances when a sync
completes, rows are upserted by PSA id, and reconciliation applies snapshots idempotently,
so nothing is lost or doubled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from trueup.contracts import messages as m
from trueup.contracts import new_id, wrap
from trueup.platform.database import Database
from trueup.platform.logging import get_logger
from trueup.platform.messaging import enqueue
from trueup.platform.metrics import MeteredTransport
from trueup.platform.outbound import GuardedTransport, OutboundPolicy, UnsafeDestinationError
from trueup.platform.secrets import CredentialSealer
from trueup.platform.tenants import SuspensionRepository
from trueup.psa.base import PsaClient, RetryPolicy
from trueup.psa.errors import PsaAuthError, PsaError
from trueup.psa.factory import create_client, credential_urls, credentials_from_dict
from trueup.psa.models import PsaBillingCycle, PsaContract, PsaContractStatus, PsaLineItem
from trueup.psa_sync.models import (
    Connection,
    PsaAccountRow,
    PsaContractRow,
    PsaLineItemRow,
)
from trueup.psa_sync.repository import ConnectionRepository, ProjectionRepository

log = get_logger(__name__)

# Changes stamped just before the previous sync started may have been missed by it if the
# PSA's clock runs behind ours; re-reading a few minutes is cheap and idempotent.
WATERMARK_OVERLAP = timedelta(minutes=5)

_CYCLES: dict[PsaBillingCycle, Literal["monthly", "quarterly", "semi_annual", "annual"]] = {
    PsaBillingCycle.MONTHLY: "monthly",
    PsaBillingCycle.QUARTERLY: "quarterly",
    PsaBillingCycle.SEMI_ANNUAL: "semi_annual",
    PsaBillingCycle.ANNUAL: "annual",
    PsaBillingCycle.OTHER: "monthly",
}


def contract_is_active(contract: PsaContract | PsaContractRow, today: date) -> bool:
    """Active status, and not past its end date."""
    if str(contract.status) != PsaContractStatus.ACTIVE.value:
        return False
    return contract.end_date is None or contract.end_date >= today


def line_item_is_billed(item: PsaLineItem | PsaLineItemRow, today: date) -> bool:
    return item.cancelled_date is None or item.cancelled_date > today


def _contract_message(row: PsaContractRow, *, dated_changes: bool) -> m.PsaContract:
    return m.PsaContract(
        psa_id=row.psa_id,
        account_psa_id=row.account_psa_id,
        name=row.name,
        status=row.status,
        start_date=row.start_date,
        end_date=row.end_date,
        billing_cycle=row.billing_cycle,  # type: ignore[arg-type]
        bill_in_advance=row.bill_in_advance,
        proration_allowed=row.proration_allowed,
        currency=row.currency,
        dated_changes=dated_changes,
    )


def _line_item_message(row: PsaLineItemRow) -> m.PsaLineItem:
    return m.PsaLineItem(
        psa_id=row.psa_id,
        contract_psa_id=row.contract_psa_id,
        product_id=row.product_id,
        product_name=row.product_name,
        quantity=row.quantity,
        unit_price=row.unit_price,
        unit_cost=row.unit_cost,
        effective_date=row.effective_date,
        cancelled_date=row.cancelled_date,
    )


@dataclass(frozen=True, slots=True)
class SyncRun:
    """One sync of one connection."""

    tenant_id: str
    connection_id: str
    psa: str
    sync_id: str
    full: bool


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    sync_id: str
    full: bool
    succeeded: bool
    batches: int
    error: str | None = None


async def check_destinations(policy: OutboundPolicy, request: m.SavePsaConnection) -> None:
    """Refuse a connection whose PSA address the outbound policy would refuse anyway.

    Raises ValueError for unusable credentials and `UnsafeDestinationError` for an address
    that is not https (in production) or not public. Every later call is checked again
    when it connects (the name may resolve elsewhere by then).
    """
    credentials = credentials_from_dict(request.psa, request.credentials)
    for url in credential_urls(credentials):
        try:
            await policy.check_destination(url)
        except UnsafeDestinationError as exc:
            # The admin sees which field to correct (`site`, `zone_url`...).
            field = next(
                (
                    key
                    for key, value in request.credentials.items()
                    if value.strip().rstrip("/") and value.strip().rstrip("/") in url
                ),
                None,
            )
            raise UnsafeDestinationError(f"{field}: {exc.reason}" if field else exc.reason) from exc


async def save_connection(
    session: AsyncSession,
    sealer: CredentialSealer,
    tenant_id: str,
    request: m.SavePsaConnection,
) -> Connection:
    """Create or replace a connection; its credentials are validated, then sealed."""
    credentials_from_dict(request.psa, request.credentials)  # raises ValueError if unusable
    repo = ConnectionRepository(session, tenant_id)
    connection = await repo.get(request.connection_id) if request.connection_id else None
    sealed = sealer.seal(dict(request.credentials))
    now = datetime.now(UTC)
    if connection is None:
        connection = Connection(
            tenant_id=tenant_id,
            connection_id=request.connection_id or new_id(),
            psa=request.psa,
            name=request.name,
            sealed_credentials=sealed,
            status="never_synced",
            syncs_done=0,
            created_at=now,
        )
        await repo.add(connection)
    else:
        connection.psa = request.psa
        connection.name = request.name
        connection.sealed_credentials = sealed
        connection.status = "never_synced"
        connection.watermark = None
    await repo.schedule(connection.connection_id, now, full=True)
    return connection


def open_client(
    connection: Connection,
    sealer: CredentialSealer,
    policy: OutboundPolicy,
    timeout: float,
    retry: RetryPolicy | None = None,
) -> PsaClient:
    """A PSA client for the connection (credentials opened in memory only), whose every
    connection goes through the outbound policy."""
    return create_client(
        credentials_from_dict(connection.psa, sealer.open(connection.sealed_credentials)),
        timeout=timeout,
        retry=retry or RetryPolicy(),
        transport=MeteredTransport(connection.psa, GuardedTransport(policy)),
    )


async def connection_status(
    session: AsyncSession, tenant_id: str, connection: Connection
) -> m.PsaConnectionStatus:
    accounts, contracts, line_items, _active = await ProjectionRepository(
        session, tenant_id, connection.connection_id
    ).counts()
    freshness = (
        int((datetime.now(UTC) - connection.last_success_at).total_seconds())
        if connection.last_success_at
        else None
    )
    return m.PsaConnectionStatus(
        connection_id=connection.connection_id,
        psa=connection.psa,  # type: ignore[arg-type]
        name=connection.name,
        status=connection.status,  # type: ignore[arg-type]
        last_success_at=connection.last_success_at,
        last_error=connection.last_error,
        last_error_at=connection.last_error_at,
        freshness_seconds=freshness,
        accounts=accounts,
        contracts=contracts,
        line_items=line_items,
    )


async def sync_status(session: AsyncSession, tenant_id: str) -> m.SyncStatus:
    """Every connection's status and the tenant's active-account figure."""
    connections = await ConnectionRepository(session, tenant_id).all()
    statuses = [await connection_status(session, tenant_id, c) for c in connections]
    active = 0
    for connection in connections:
        *_, count = await ProjectionRepository(
            session, tenant_id, connection.connection_id
        ).counts()
        active += count
    return m.SyncStatus(connections=statuses, active_accounts=active)


class Syncer:
    """Runs one sync of one connection."""

    def __init__(
        self,
        database: Database,
        sealer: CredentialSealer,
        *,
        policy: OutboundPolicy,
        batch_size: int,
        full_sync_after: timedelta,
        timeout: float,
        retry_seconds: float,
    ) -> None:
        self.database = database
        self.sealer = sealer
        self.policy = policy
        self.batch_size = batch_size
        self.full_sync_after = full_sync_after
        self.timeout = timeout
        self.retry_seconds = retry_seconds

    async def run(self, tenant_id: str, connection_id: str, *, full: bool) -> SyncOutcome | None:
        """Sync once; records success or the error on the connection, never raises for PSA
        trouble (a bad credential is a status, not a crash loop)."""
        async with self.database.transaction(tenant_id) as session:
            connection = await ConnectionRepository(session, tenant_id).get(connection_id)
            if connection is None:
                return None
            if await SuspensionRepository(session, tenant_id).is_suspended():
                # The slot is spent unsynced: a suspended tenant's PSA is not read, and
                # its syncs resume at their next interval once the tenant is resumed.
                log.info("sync skipped: tenant suspended", connection_id=connection_id)
                return None
            # By the age of the last full sync, not by a count of syncs: every applied
            # writeback asks for a sync, and a busy tenant's would otherwise make every
            # Nth of them read its whole PSA again.
            full = (
                full
                or connection.watermark is None
                or connection.last_full_sync_at is None
                or datetime.now(UTC) - connection.last_full_sync_at >= self.full_sync_after
            )
            watermark = connection.watermark
            psa = connection.psa
            connection.status = "syncing"
            client = open_client(
                connection,
                self.sealer,
                self.policy,
                self.timeout,
                RetryPolicy(max_elapsed=self.retry_seconds),
            )
        sync_id = new_id()
        started = datetime.now(UTC)
        log.info("sync started", connection_id=connection_id, full=full, sync_id=sync_id)
        try:
            async with client:
                since = None
                if not full and client.capabilities().incremental_sync and watermark:
                    since = watermark - WATERMARK_OVERLAP
                batches = await self._sync(
                    client, SyncRun(tenant_id, connection_id, psa, sync_id, full), since
                )
        except PsaError as exc:
            status = "bad_credentials" if isinstance(exc, PsaAuthError) else "error"
            # The full message (which may quote the PSA's answer) goes to the log only;
            # the stored status, which every viewer reads, gets the fixed phrase.
            log.warning("sync failed", connection_id=connection_id, status=status, error=str(exc))
            await self._failed(tenant_id, connection_id, sync_id, full, status, exc.public_message)
            return SyncOutcome(sync_id, full, False, 0, exc.public_message)
        async with self.database.transaction(tenant_id) as session:
            repo = ConnectionRepository(session, tenant_id)
            connection = await repo.get(connection_id)
            assert connection is not None
            accounts, contracts, line_items, active = await ProjectionRepository(
                session, tenant_id, connection_id
            ).counts()
            connection.status = "ok"
            connection.watermark = started
            if full:
                connection.last_full_sync_at = started
            connection.last_success_at = datetime.now(UTC)
            connection.last_error = None
            connection.syncs_done += 1
            await enqueue(
                session,
                m.subject_for(m.PsaSyncCompleted, tenant_id),
                wrap(
                    m.PsaSyncCompleted(
                        connection_id=connection_id,
                        sync_id=sync_id,
                        full=full,
                        batches=batches,
                        accounts=accounts,
                        contracts=contracts,
                        line_items=line_items,
                        active_accounts=active,
                    ),
                    tenant_id=tenant_id,
                ),
            )
        log.info(
            "sync completed",
            connection_id=connection_id,
            full=full,
            batches=batches,
            contracts=contracts,
            line_items=line_items,
            active_accounts=active,
        )
        return SyncOutcome(sync_id, full, True, batches)

    async def refresh(self, tenant_id: str, connection_id: str) -> int | None:
        """Read the contracts a writeback asked for again (their line items, which is what
        a writeback changes) and send on what differs; how many were read, None when
        nothing was asked or the tenant is suspended. A PSA error is logged, not raised:
        the next sync reads the same changes."""
        async with self.database.transaction(tenant_id) as session:
            connection = await ConnectionRepository(session, tenant_id).get(connection_id)
            if connection is None or await SuspensionRepository(session, tenant_id).is_suspended():
                return None
            contract_ids = await ConnectionRepository(session, tenant_id).take_refreshes(
                connection_id
            )
            if not contract_ids:
                return None
            client = open_client(
                connection,
                self.sealer,
                self.policy,
                self.timeout,
                RetryPolicy(max_elapsed=self.retry_seconds),
            )
            psa = connection.psa
        run = SyncRun(tenant_id, connection_id, psa, new_id(), full=False)
        today = datetime.now(UTC).date()
        try:
            async with client:
                items = [i async for i in client.list_line_items(contract_ids=contract_ids)]
        except PsaError as exc:
            log.warning(
                "contract refresh failed",
                connection_id=connection_id,
                contracts=len(contract_ids),
                error=str(exc),
            )
            return None
        batch_no = 0
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            batch_no += await self._line_item_batch(run, batch_no, batch, today, frozenset())
        # The PSA lists every line item of these contracts: one it no longer lists is gone.
        async with self.database.transaction(tenant_id) as session:
            projection = ProjectionRepository(session, tenant_id, connection_id)
            gone = sorted(
                await projection.line_item_ids_of(contract_ids) - {item.id for item in items}
            )
            if gone:
                await projection.delete(PsaLineItemRow, gone)
                await self._stage(session, run, batch_no, removed_line_items=gone)
        log.info(
            "contracts refreshed",
            connection_id=connection_id,
            contracts=len(contract_ids),
            line_items=len(items),
            removed=len(gone),
        )
        return len(contract_ids)

    async def _failed(
        self, tenant_id: str, connection_id: str, sync_id: str, full: bool, status: str, error: str
    ) -> None:
        async with self.database.transaction(tenant_id) as session:
            connection = await ConnectionRepository(session, tenant_id).get(connection_id)
            if connection is None:
                return
            connection.status = status
            connection.last_error = error[:2000]
            connection.last_error_at = datetime.now(UTC)
            failed = m.PsaSyncCompleted(
                connection_id=connection_id,
                sync_id=sync_id,
                full=full,
                succeeded=False,
                error=error[:2000],
            )
            await enqueue(
                session,
                m.subject_for(m.PsaSyncCompleted, tenant_id),
                wrap(failed, tenant_id=tenant_id),
            )

    async def _sync(self, client: PsaClient, run: SyncRun, since: datetime | None) -> int:
        """Read the PSA (what changed `since`, or all of it) into the projection and stage
        snapshot messages for reconciliation: on a full sync everything read, on an
        incremental one what differs from the projection. An incremental sync re-reads a
        few minutes before its watermark, and after each writeback there is one: without
        the comparison, a busy tenant's every sync sent on all it had sent minutes before."""
        today = datetime.now(UTC).date()
        accounts = [a async for a in client.list_accounts(changed_since=since)]
        contracts = [c async for c in client.list_contracts(changed_since=since)]
        async with self.database.transaction(run.tenant_id) as session:
            projection = ProjectionRepository(session, run.tenant_id, run.connection_id)
            await projection.put(
                [
                    PsaAccountRow(
                        tenant_id=run.tenant_id,
                        connection_id=run.connection_id,
                        psa_id=account.id,
                        name=account.name,
                        identifier=account.identifier or "",
                        seen_sync_id=run.sync_id,
                    )
                    for account in accounts
                ]
            )
            rows = [
                PsaContractRow(
                    tenant_id=run.tenant_id,
                    connection_id=run.connection_id,
                    psa_id=c.id,
                    account_psa_id=c.account_id,
                    name=c.name,
                    status=c.status.value,
                    start_date=c.start_date,
                    end_date=c.end_date,
                    billing_cycle=_CYCLES[c.billing_cycle],
                    bill_in_advance=c.bill_in_advance,
                    proration_allowed=c.prorate,
                    currency=c.currency,
                    active=contract_is_active(c, today),
                    seen_sync_id=run.sync_id,
                )
                for c in contracts
            ]
            changed = await projection.put(rows)
            sent = rows if run.full else [r for r in rows if r.psa_id in changed]
            active_rows = [r for r in sent if r.active]
            # An incremental sync may activate a contract of an account that did not
            # change itself: its name comes from the projection.
            account_rows = await projection.accounts({r.account_psa_id for r in active_rows})
            batch_no = await self._stage(
                session,
                run,
                0,
                accounts=[
                    m.PsaAccount(psa_id=a.psa_id, name=a.name, identifier=a.identifier)
                    for a in account_rows
                ],
                contracts=[
                    _contract_message(r, dated_changes=client.capabilities().dated_changes)
                    for r in active_rows
                ],
                removed_contracts=[r.psa_id for r in sent if not r.active],
            )
        # A contract sent again (changed, or active again) takes its line items with it.
        contracts_sent = frozenset(r.psa_id for r in sent)
        buffer: list[PsaLineItem] = []
        async for item in client.list_line_items(changed_since=since):
            buffer.append(item)
            if len(buffer) >= self.batch_size:
                batch_no += await self._line_item_batch(
                    run, batch_no, buffer, today, contracts_sent
                )
                buffer = []
        if buffer:
            batch_no += await self._line_item_batch(run, batch_no, buffer, today, contracts_sent)
        if run.full:
            batch_no += await self._remove_unseen(run, batch_no)
        return batch_no

    async def _line_item_batch(
        self,
        run: SyncRun,
        batch_no: int,
        items: Sequence[PsaLineItem],
        today: date,
        contracts_sent: frozenset[str],
    ) -> int:
        async with self.database.transaction(run.tenant_id) as session:
            projection = ProjectionRepository(session, run.tenant_id, run.connection_id)
            contracts = await projection.contracts(sorted({i.contract_id for i in items}))
            rows = [
                PsaLineItemRow(
                    tenant_id=run.tenant_id,
                    connection_id=run.connection_id,
                    psa_id=item.id,
                    contract_psa_id=item.contract_id,
                    product_id=item.product.id,
                    product_name=item.product.name,
                    quantity=item.quantity,
                    unit_price=item.unit_price,
                    unit_cost=item.unit_cost,
                    effective_date=item.effective_date,
                    cancelled_date=item.cancelled_date,
                    seen_sync_id=run.sync_id,
                )
                for item in items
            ]
            changed = await projection.put(rows)
            published: dict[str, m.PsaLineItem] = {}
            removed: dict[str, None] = {}
            for item, row in zip(items, rows, strict=True):
                if not (run.full or item.id in changed or item.contract_id in contracts_sent):
                    continue
                contract = contracts.get(item.contract_id)
                # Keyed by id: a page boundary that moved may list an item twice.
                if contract is not None and contract.active and line_item_is_billed(item, today):
                    published[item.id] = _line_item_message(row)
                    removed.pop(item.id, None)
                else:
                    removed[item.id] = None
                    published.pop(item.id, None)
            return await self._stage(
                session,
                run,
                batch_no,
                line_items=list(published.values()),
                removed_line_items=list(removed),
            )

    async def _remove_unseen(self, run: SyncRun, batch_no: int) -> int:
        """After a full sync: what the PSA no longer returns leaves the projection."""
        async with self.database.transaction(run.tenant_id) as session:
            projection = ProjectionRepository(session, run.tenant_id, run.connection_id)
            gone_contracts = await projection.unseen_ids(PsaContractRow, run.sync_id)
            gone_items = await projection.unseen_ids(PsaLineItemRow, run.sync_id)
            await projection.delete(PsaContractRow, gone_contracts)
            await projection.delete(PsaLineItemRow, gone_items)
            return await self._stage(
                session,
                run,
                batch_no,
                removed_contracts=gone_contracts,
                removed_line_items=gone_items,
            )

    async def _stage(
        self,
        session: AsyncSession,
        run: SyncRun,
        batch_no: int,
        *,
        accounts: Sequence[m.PsaAccount] = (),
        contracts: Sequence[m.PsaContract] = (),
        line_items: Sequence[m.PsaLineItem] = (),
        removed_contracts: Sequence[str] = (),
        removed_line_items: Sequence[str] = (),
    ) -> int:
        """Stage snapshot messages numbered from `batch_no`, each list cut into parts of at
        most `batch_size` entries, one part a message, in this order: accounts, contracts,
        line items, removals (a contract's account and a line item's contract arrive before
        it). Returns how many were staged (at least one, so a sync that found nothing
        still says so).

        A large MSP's accounts and contracts in one message would pass the broker's message
        limit (1 MB by default): the outbox could never send it, and every later message
        of this service would wait behind it."""
        parts: list[dict[str, list[Any]]] = [
            {name: list(values[start : start + self.batch_size])}
            for name, values in (
                ("accounts", accounts),
                ("contracts", contracts),
                ("line_items", line_items),
                ("removed_contract_ids", removed_contracts),
                ("removed_line_item_ids", removed_line_items),
            )
            for start in range(0, len(values), self.batch_size)
        ] or [{}]
        for offset, part in enumerate(parts):
            snapshot = m.PsaSnapshot(
                connection_id=run.connection_id,
                psa=run.psa,
                sync_id=run.sync_id,
                batch_no=batch_no + offset,
                full=run.full,
                **part,
            )
            await enqueue(
                session,
                m.subject_for(m.PsaSnapshot, run.tenant_id),
                wrap(snapshot, tenant_id=run.tenant_id),
            )
        return len(parts)
