"""Every query of reconciliation; each takes the tenant explicitly."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from trueup.contracts import recon as r
from trueup.platform.database import upsert_insert
from trueup.reconciliation.models import (
    AccountMappingRow,
    AccountRow,
    ActionRow,
    Base,
    CardRow,
    ContractRow,
    LineItemRow,
    ServiceLineRow,
    ServiceMappingRow,
    TenantSettingsRow,
    Usage,
)

M = TypeVar("M", bound=Base)
T = TypeVar("T")
# currency, billing cycle, PSA quantity, target quantity, unit price, unit cost
PriceRow = sa.Row[str, str, Decimal, Decimal | None, Decimal | None, Decimal | None]


@dataclass(frozen=True, slots=True)
class TenantData:
    """Every row reconciliation reads to compute a tenant's cards."""

    tenant_id: str
    accounts: Sequence[AccountRow]
    contracts: Sequence[ContractRow]
    line_items: Sequence[LineItemRow]
    service_lines: Sequence[ServiceLineRow]
    usage: Sequence[Usage]
    account_mappings: Sequence[AccountMappingRow]
    service_mappings: Sequence[ServiceMappingRow]
    cards: Sequence[CardRow]


def _chunks(values: list[T]) -> Iterator[list[T]]:
    """At most 500 at a time: a statement's parameters stay within every database's limit."""
    for start in range(0, len(values), 500):
        yield values[start : start + 500]


# Statements of the usage lane, built once: building one (its bind parameters, the
# EXCLUDED alias, the cache key) cost more than running it.

_USAGE_KEY = ("tenant_id", "vendor", "vendor_account_id", "sku")
_CARD_KEY = ("tenant_id", "card_id")


@functools.cache
def _put_usage_statement(dialect: str, names: tuple[str, ...]) -> sa.Executable:
    insert = upsert_insert(dialect)(Usage)
    return insert.on_conflict_do_update(
        index_elements=list(_USAGE_KEY),
        set_={name: insert.excluded[name] for name in names if name not in _USAGE_KEY},
    )


@functools.cache
def _update_cards_statement(names: tuple[str, ...]) -> sa.Executable:
    table = cast(sa.Table, CardRow.__table__)
    return (
        sa.update(table)
        .where(
            table.c.tenant_id == sa.bindparam("key_tenant_id"),
            table.c.card_id == sa.bindparam("key_card_id"),
        )
        .values({name: sa.bindparam(name) for name in names})
    )


_SETTINGS = cast(sa.Table, TenantSettingsRow.__table__)
READ_AHEAD_ROWS = "trueup.reconciliation.read_ahead"
"""`session.info` key: rows read before the tenant was locked (`actions.read_ahead`),
held there so that the session keeps them, and dropped from it by a whole-tenant
recompute, which must start from the rows as they are under the lock."""
_LOCKED_TENANTS = "trueup.reconciliation.locked_tenants"
"""`session.info` key: the tenants whose settings row this transaction has locked, each
with the row as the ORM holds it (None when it was locked without loading it)."""
_ACTIONS_BY_KEY = "trueup.reconciliation.actions_by_key"
"""`session.info` key: the actions of the idempotency keys `read_actions` read, None for a
key with no action yet. An action added under one of these keys is added to it, and
written with the session's next flush instead of at once (see `actions.act_together`)."""
_LOCK_INPUTS = (
    sa.select(_SETTINGS.c.inputs_token, _SETTINGS.c.settings)
    .where(_SETTINGS.c.tenant_id == sa.bindparam("tenant_id"))
    .with_for_update()
)
_INPUTS_CHANGED = (
    sa.update(_SETTINGS)
    .where(_SETTINGS.c.tenant_id == sa.bindparam("key_tenant_id"))
    .values(
        inputs_token=sa.bindparam("token"),
        cards_version=_SETTINGS.c.cards_version + sa.bindparam("cards_changed"),
        active_accounts=_SETTINGS.c.active_accounts + sa.bindparam("active_accounts_delta"),
    )
)


def _billing_settings(stored: dict[str, Any] | None) -> r.BillingSettings:
    return r.BillingSettings.model_validate(stored) if stored else r.BillingSettings()


@dataclass(frozen=True, slots=True)
class LockedInputs:
    """A tenant's inputs token and settings, read with its settings row locked."""

    inputs_token: str | None
    settings: r.BillingSettings


class Repository:
    """Reconciliation's data for one tenant."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        # The session's identity map holds unchanged rows weakly: without a reference
        # here, every read of the settings row in one use case would be a query.
        self._settings_row: TenantSettingsRow | None = None

    async def all_of(self, model: type[M], *where: Any) -> Sequence[M]:
        result = await self.session.scalars(
            sa.select(model).where(model.tenant_id == self.tenant_id, *where)  # type: ignore[attr-defined]
        )
        return result.all()

    async def load(self) -> TenantData:
        return TenantData(
            tenant_id=self.tenant_id,
            accounts=await self.all_of(AccountRow),
            contracts=await self.all_of(ContractRow),
            line_items=await self.all_of(LineItemRow),
            service_lines=await self.all_of(ServiceLineRow),
            usage=await self.all_of(Usage),
            account_mappings=await self.all_of(AccountMappingRow),
            service_mappings=await self.all_of(ServiceMappingRow),
            cards=await self.all_of(CardRow),
        )

    async def merge(self, row: Base) -> None:
        assert getattr(row, "tenant_id", None) == self.tenant_id
        await self.session.merge(row)

    async def upsert(
        self,
        model: type[M],
        key: Any,
        rows: dict[str, dict[str, Any]],
        *,
        update: bool = True,
    ) -> None:
        """Insert the rows of `model` whose `key` column is new and, with `update`, set the
        given columns of those that exist (other columns keep their values).

        One query per thousand keys finds the existing rows, instead of a lookup per row:
        a PSA snapshot batch holds thousands of them.
        """
        keys = list(rows)
        found: dict[str, M] = {}
        for start in range(0, len(keys), 1000):
            for row in await self.all_of(model, key.in_(keys[start : start + 1000])):
                found[getattr(row, key.key)] = row
        for value, columns in rows.items():
            existing = found.get(value)
            if existing is None:
                self.session.add(model(tenant_id=self.tenant_id, **{key.key: value}, **columns))
            elif update:
                for column, column_value in columns.items():
                    setattr(existing, column, column_value)

    def add(self, row: Base) -> None:
        """Insert a row known to be new (no lookup first, unlike `merge`)."""
        assert getattr(row, "tenant_id", None) == self.tenant_id
        self.session.add(row)

    async def get(self, model: type[M], *key: str) -> M | None:
        return await self.session.get(model, (self.tenant_id, *key))

    async def delete_where(self, model: type[M], *where: Any) -> int:
        result = await self.session.execute(
            sa.delete(model).where(model.tenant_id == self.tenant_id, *where)  # type: ignore[attr-defined]
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def vendor_account_name(self, vendor: str, vendor_account_id: str) -> str:
        """The name the vendor reports for one of its accounts ("" if it reports none)."""
        name = await self.session.scalar(
            sa.select(sa.func.max(Usage.vendor_account_name)).where(
                Usage.tenant_id == self.tenant_id,
                Usage.vendor == vendor,
                Usage.vendor_account_id == vendor_account_id,
            )
        )
        return name or ""

    async def sku_name(self, vendor: str, sku: str) -> str:
        """The name the vendor reports for one of its SKUs ("" if it reports none)."""
        name = await self.session.scalar(
            sa.select(sa.func.max(Usage.sku_name)).where(
                Usage.tenant_id == self.tenant_id, Usage.vendor == vendor, Usage.sku == sku
            )
        )
        return name or ""

    # --- PSA projection -----------------------------------------------------------

    async def remove_contracts(self, contract_ids: Sequence[str]) -> None:
        if contract_ids:
            await self.delete_where(LineItemRow, LineItemRow.contract_id.in_(contract_ids))
            await self.delete_where(ContractRow, ContractRow.contract_id.in_(contract_ids))

    async def remove_line_items(self, line_item_ids: Sequence[str]) -> None:
        if line_item_ids:
            await self.delete_where(LineItemRow, LineItemRow.line_item_id.in_(line_item_ids))

    async def contracts_of(self, account_id: str) -> Sequence[ContractRow]:
        return await self.all_of(ContractRow, ContractRow.account_id == account_id)

    async def contract_ids_of_line_items(self, line_item_ids: Iterable[str]) -> set[str]:
        """The contracts these stored line items are on."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(line_item_ids))):
            query = sa.select(LineItemRow.contract_id).where(
                LineItemRow.tenant_id == self.tenant_id, LineItemRow.line_item_id.in_(chunk)
            )
            found.update(await self.session.scalars(query))
        return found

    async def psa_state_of(
        self, account_ids: Iterable[str]
    ) -> tuple[Sequence[AccountRow], Sequence[ContractRow], Sequence[LineItemRow]]:
        """These accounts as stored, with their contracts and the contracts' line items."""
        accounts: list[AccountRow] = []
        contracts: list[ContractRow] = []
        line_items: list[LineItemRow] = []
        for chunk in _chunks(sorted(set(account_ids))):
            accounts.extend(await self.all_of(AccountRow, AccountRow.account_id.in_(chunk)))
            contracts.extend(await self.all_of(ContractRow, ContractRow.account_id.in_(chunk)))
        for contract_chunk in _chunks(sorted(c.contract_id for c in contracts)):
            line_items.extend(
                await self.all_of(LineItemRow, LineItemRow.contract_id.in_(contract_chunk))
            )
        return accounts, contracts, line_items

    # --- usage --------------------------------------------------------------------

    # --- cards --------------------------------------------------------------------

    async def card(self, card_id: str) -> CardRow | None:
        return await self.get(CardRow, card_id)

    async def fresh_cards(self, card_ids: Iterable[str]) -> Sequence[CardRow]:
        """The cards, read from the database in one statement even where the session
        holds them."""
        return (
            await self.session.scalars(
                sa.select(CardRow)
                .where(CardRow.tenant_id == self.tenant_id, CardRow.card_id.in_(set(card_ids)))
                .execution_options(populate_existing=True)
            )
        ).all()

    async def cards(
        self,
        where: Sequence[Any],
        order_by: Sequence[Any],
        limit: int | None = None,
    ) -> Sequence[CardRow]:
        query = sa.select(CardRow).where(CardRow.tenant_id == self.tenant_id, *where)
        query = query.order_by(*order_by)
        if limit is not None:
            query = query.limit(limit)
        return (await self.session.scalars(query)).all()

    async def cards_version(self) -> int:
        row = await self.settings_row()
        return row.cards_version if row else 0

    async def bump_cards_version(self) -> None:
        """Mark the tenant's cards changed (invalidates cached list totals everywhere)."""
        row = await self.writable_settings_row()
        row.cards_version = (row.cards_version or 0) + 1

    async def card_prices(self, where: Sequence[Any]) -> Sequence[PriceRow]:
        """What the money of each matching card is computed from (see `state.card_figures`).

        Read as columns, not rows of `CardRow`: a total may cover a hundred thousand cards.
        """
        columns = (
            CardRow.currency,
            CardRow.billing_cycle,
            CardRow.psa_quantity,
            CardRow.target_quantity,
            CardRow.unit_price,
            CardRow.unit_cost,
        )
        statement = sa.select(*columns).where(CardRow.tenant_id == self.tenant_id, *where)
        return (await self.session.execute(statement)).all()

    async def sales_units(self) -> dict[str, str]:
        """Sales unit of each of the tenant's service lines."""
        rows = await self.session.execute(
            sa.select(ServiceLineRow.service_line_id, ServiceLineRow.sales_unit).where(
                ServiceLineRow.tenant_id == self.tenant_id
            )
        )
        return {line_id: unit for line_id, unit in rows.all()}

    # --- actions --------------------------------------------------------------------

    async def read_actions(self, idempotency_keys: Iterable[str]) -> None:
        """Read the actions of these keys in one statement, for `action_by_key` to answer
        from (and to hold: the session keeps unchanged rows only weakly)."""
        keys = set(idempotency_keys)
        known: dict[str, ActionRow | None] = dict.fromkeys(keys)
        for row in await self.all_of(ActionRow, ActionRow.idempotency_key.in_(keys)):
            known[row.idempotency_key] = row
        self.session.info[_ACTIONS_BY_KEY] = known

    async def action_by_key(self, idempotency_key: str) -> ActionRow | None:
        known = self.session.info.get(_ACTIONS_BY_KEY, {})
        if idempotency_key in known:
            return known[idempotency_key]  # type: ignore[no-any-return]
        return await self.session.scalar(
            sa.select(ActionRow).where(
                ActionRow.tenant_id == self.tenant_id, ActionRow.idempotency_key == idempotency_key
            )
        )

    async def last_write_action(self, card_id: str) -> ActionRow | None:
        """The card's latest approve or add: the write a retry sends again."""
        return await self.session.scalar(
            sa.select(ActionRow)
            .where(
                ActionRow.tenant_id == self.tenant_id,
                ActionRow.card_id == card_id,
                ActionRow.kind.in_(("approve", "add")),
            )
            .order_by(ActionRow.created_at.desc(), ActionRow.action_id.desc())
            .limit(1)
        )

    async def add_action(self, row: ActionRow) -> None:
        assert row.tenant_id == self.tenant_id
        self.session.add(row)
        known = self.session.info.get(_ACTIONS_BY_KEY, {})
        if row.idempotency_key in known:
            known[row.idempotency_key] = row
        else:
            await self.session.flush()

    # --- settings -------------------------------------------------------------------

    async def settings_row(self) -> TenantSettingsRow | None:
        if self._settings_row is None:
            self._settings_row = self.session.info.get(_LOCKED_TENANTS, {}).get(
                self.tenant_id
            ) or await self.get(TenantSettingsRow)
        return self._settings_row

    async def writable_settings_row(self, *, locked: bool = False) -> TenantSettingsRow:
        """The settings row to change, created first if the tenant has none yet; with
        `locked`, locked to this transaction on PostgreSQL (see `locked_settings_row`).

        Created by an insert that ignores a conflict: two writers that both found no row
        (the live and bulk lanes, or two replicas, on a tenant's first inputs) would
        otherwise both insert, and one would fail on the primary key. A writer that locks
        it first thing also takes every other lock of the tenant after it, so two writers
        on a new tenant queue instead of deadlocking on the rows each creates."""
        row = await (self.locked_settings_row() if locked else self.settings_row())
        if row is not None:
            return row
        dialect = self.session.get_bind().dialect.name
        await self.session.execute(
            upsert_insert(dialect)(TenantSettingsRow)
            .values(tenant_id=self.tenant_id, settings={}, active_accounts=0, cards_version=0)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        created = await self.locked_settings_row()
        assert created is not None, "the settings row was just inserted"
        return created

    async def lock_tenant(self) -> TenantSettingsRow:
        """Lock the tenant's reconciliation state to this transaction (its settings row,
        created first if need be). Every writer takes it before any other row of the
        tenant: a writer that wrote a card and then locked the settings row, beside one
        that did the opposite, each waited for the other until PostgreSQL failed one."""
        return await self.writable_settings_row(locked=True)

    async def billing_settings(self) -> r.BillingSettings:
        row = await self.settings_row()
        return _billing_settings(row.settings if row else None)

    async def locked_settings_row(self) -> TenantSettingsRow | None:
        """The settings row, locked to this transaction on PostgreSQL: writers to one
        tenant's inputs take turns (SQLite writers always do).

        Locked once per transaction: a use case asks again at each step that needs the
        lock (the query's handler, the cycle's turn, the card's change), and each ask was
        a round trip made while every other writer of the tenant waited."""
        locked = self.session.info.get(_LOCKED_TENANTS, {})
        if self.tenant_id in locked:
            row = locked[self.tenant_id] or await self.settings_row()
            if row is not None:
                self._settings_row = row
                return row
        query = (
            sa.select(TenantSettingsRow)
            .where(TenantSettingsRow.tenant_id == self.tenant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        self._settings_row = (await self.session.scalars(query)).one_or_none()
        if self._settings_row is not None:
            self._mark_locked(self._settings_row)
        return self._settings_row

    def _mark_locked(self, row: TenantSettingsRow | None) -> None:
        # Not inside a savepoint: rolling back to it would release the lock. The row is
        # kept (the session holds an unchanged row only weakly) so that the next ask
        # finds it without a query.
        if not self.session.in_nested_transaction():
            locked = self.session.info.setdefault(_LOCKED_TENANTS, {})
            if row is not None or self.tenant_id not in locked:
                locked[self.tenant_id] = row

    async def lock_inputs(self) -> LockedInputs | None:
        """What `locked_settings_row` locks, as two columns instead of a `TenantSettingsRow`
        (a usage update needs no more); None when the tenant has no settings row yet.
        Pair it with `inputs_changed`, not with the ORM row."""
        found = (
            await self.session.execute(_LOCK_INPUTS, {"tenant_id": self.tenant_id})
        ).one_or_none()
        if found is None:
            return None
        self._mark_locked(None)
        return LockedInputs(found.inputs_token, _billing_settings(found.settings))

    async def inputs_changed(
        self, token: str, *, cards_changed: bool, active_accounts_delta: int = 0
    ) -> None:
        """Store a new inputs token, a new cards version when cards changed, and the
        active-accounts figure moved by `active_accounts_delta`, in one statement on the
        row `lock_inputs` locked."""
        await self.session.flush()
        await self.session.execute(
            _INPUTS_CHANGED,
            {
                "key_tenant_id": self.tenant_id,
                "token": token,
                "cards_changed": int(cards_changed),
                "active_accounts_delta": active_accounts_delta,
            },
        )
        loaded = self.session.sync_session.identity_map.get(
            identity_key(TenantSettingsRow, (self.tenant_id,))
        )
        if loaded is not None:
            # A writer that locked the tenant first holds the row as the ORM read it: a
            # later change through it (an automatic approval bumps the cards version)
            # must start from what this statement wrote, not write the old values back.
            await self.session.refresh(loaded)

    async def set_inputs_token(self, token: str) -> None:
        (await self.writable_settings_row()).inputs_token = token

    async def usage_times(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str, str], datetime]:
        """When each stored usage row of these (vendor, vendor account) pairs was observed."""
        found: dict[tuple[str, str, str], datetime] = {}
        for chunk in _chunks(sorted(set(keys))):
            query = sa.select(Usage.vendor, Usage.vendor_account_id, Usage.sku, Usage.as_of).where(
                Usage.tenant_id == self.tenant_id,
                sa.tuple_(Usage.vendor, Usage.vendor_account_id).in_(chunk),
            )
            for vendor, vendor_account_id, sku, as_of in await self.session.execute(query):
                found[(vendor, vendor_account_id, sku)] = as_of
        return found

    async def insert_new(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Insert rows known to be new, as one statement's parameters (no ORM objects: a
        month-end import holds a thousand usage rows per batch, and a first recompute as
        many cards)."""
        assert all(row["tenant_id"] == self.tenant_id for row in rows)
        if rows:
            await self.session.execute(sa.insert(model), rows)

    async def delete_usage(self, accounts: Iterable[tuple[str, str]]) -> None:
        """Delete the usage of whole (vendor, vendor account) pairs."""
        for chunk in _chunks(sorted(set(accounts))):
            await self.delete_where(
                Usage, sa.tuple_(Usage.vendor, Usage.vendor_account_id).in_(chunk)
            )

    async def put_usage(self, rows: list[dict[str, Any]]) -> None:
        """Insert usage rows, or update the stored row of the same (vendor, vendor account,
        SKU): one statement, sent as executemany parameters."""
        assert all(row["tenant_id"] == self.tenant_id for row in rows)
        if rows:
            dialect = self.session.get_bind().dialect.name
            await self.session.execute(_put_usage_statement(dialect, tuple(rows[0])), rows)

    def _usage_of_source(self, vendor: str, batch_id: str | None) -> list[Any]:
        where = [Usage.tenant_id == self.tenant_id, Usage.vendor == vendor]
        if batch_id is not None:
            where.append(Usage.batch_id == batch_id)
        return where

    async def usage_keys_of_source(
        self, vendor: str, batch_id: str | None = None
    ) -> list[tuple[str, str]]:
        """(vendor account, SKU) of the vendor's stored usage, or of one batch of it."""
        query = sa.select(Usage.vendor_account_id, Usage.sku).where(
            *self._usage_of_source(vendor, batch_id)
        )
        return [(account, sku) for account, sku in await self.session.execute(query)]

    async def delete_usage_of_source(self, vendor: str, batch_id: str | None = None) -> int:
        """Delete the vendor's stored usage, or one batch of it; how many rows."""
        result = await self.session.execute(
            sa.delete(Usage).where(*self._usage_of_source(vendor, batch_id))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def cards_of(self, account_ids: Iterable[str]) -> Sequence[CardRow]:
        """Every card of these accounts."""
        found: list[CardRow] = []
        for chunk in _chunks(sorted(set(account_ids))):
            query = sa.select(CardRow).where(
                CardRow.tenant_id == self.tenant_id, CardRow.account_id.in_(chunk)
            )
            found.extend((await self.session.scalars(query)).all())
        return found

    async def delete_cards(self, card_ids: Iterable[str]) -> None:
        for chunk in _chunks(sorted(card_ids)):
            await self.delete_where(CardRow, CardRow.card_id.in_(chunk))

    async def update_cards(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Give stored cards these column values (every column but the key), in one
        statement sent as executemany parameters. A `CardRow` of the same card this
        session has loaded gets the values too, as if it had been read after."""
        if not rows:
            return
        assert all(row["tenant_id"] == self.tenant_id for row in rows)
        names = [name for name in rows[0] if name not in _CARD_KEY]
        statement = _update_cards_statement(tuple(names))
        parameters = [
            {
                "key_tenant_id": row["tenant_id"],
                "key_card_id": row["card_id"],
                **{name: row[name] for name in names},
            }
            for row in rows
        ]
        await self.session.execute(statement, parameters)
        identity_map = self.session.sync_session.identity_map
        for row in rows:
            loaded = identity_map.get(identity_key(CardRow, (row["tenant_id"], row["card_id"])))
            if loaded is not None:
                for name in names:
                    set_committed_value(loaded, name, row[name])
