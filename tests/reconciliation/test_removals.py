"""Removing usage: what a dry run counts, what a real run deletes, recomputes and
announces, and the refusals that keep a stale preview from removing more than it showed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.reconciliation.conftest import USER, Tenant
from trueup.contracts import messages as m
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.platform.broker import QueryFailedError
from trueup.reconciliation import inputs, removals
from trueup.reconciliation.models import Usage
from trueup.reconciliation.repository import Repository

D = Decimal
ENDPOINT = "Managed Endpoint"
BACKUP = "Cloud Backup 1TB"


def _other_usage(vendor: str, batch_id: str) -> m.UsageReported:
    """Usage of an account the PSA does not know (it feeds no card)."""
    return m.UsageReported(
        vendor=vendor,
        source=m.UsageSource.CSV,
        batch_id=batch_id,
        records=[
            m.UsageRecord(
                vendor_account_id="v-Z",
                vendor_account_name="Zeta Unknown",
                sku=f"sku-{n}",
                quantity=D(n),
                as_of=datetime.now(UTC),
            )
            for n in (1, 2, 3)
        ],
    )


async def _apply(tenant: Tenant, usage: m.UsageReported) -> None:
    envelope = wrap(usage, tenant_id=tenant.tenant_id)
    await tenant.run(lambda s: inputs.apply_usage(s, envelope))


async def _remove(tenant: Tenant, **fields: Any) -> r.UsageRemoval:
    request = r.RemoveUsage(actor=USER, **fields)
    envelope = wrap(request, tenant_id=tenant.tenant_id)
    return await tenant.run(lambda s: removals.remove_usage(s, tenant.tenant_id, envelope))


async def _refusal(tenant: Tenant, **fields: Any) -> QueryFailedError:
    with pytest.raises(QueryFailedError) as raised:
        await _remove(tenant, **fields)
    return raised.value


async def _usage(tenant: Tenant) -> set[tuple[str, str, str, str]]:
    rows = await tenant.run(lambda s: Repository(s, tenant.tenant_id).all_of(Usage))
    return {(u.vendor, u.batch_id, u.vendor_account_id, u.sku) for u in rows}


class TestDryRun:
    async def test_counts_records_vendor_accounts_and_the_cards_they_feed(
        self, tenant: Tenant
    ) -> None:
        await tenant.synced({"P1": 10, "P2": 5}, {"P1": 14, "P2": 5})
        await _apply(tenant, _other_usage("pax8", "b-other"))
        before_usage, before_staged = await _usage(tenant), await tenant.staged()

        preview = await _remove(tenant, vendor="pax8", batch_id="b1", label="test.csv")

        assert preview.dry_run is True
        assert (preview.records, preview.vendor_accounts, preview.cards) == (2, 1, 2)
        assert preview.removal_id is None
        whole = await _remove(tenant, vendor="pax8")
        assert (whole.records, whole.vendor_accounts, whole.cards) == (5, 2, 2)
        # Nothing changed: no usage deleted, nothing staged.
        assert await _usage(tenant) == before_usage
        assert await tenant.staged() == before_staged


class TestRemoval:
    async def test_an_imports_usage_goes_its_cards_are_recomputed_and_it_is_announced(
        self, tenant: Tenant
    ) -> None:
        cards = await tenant.synced({"P1": 10}, {"P1": 14})
        assert cards[ENDPOINT].vendor_quantity == D(14)
        await _apply(tenant, _other_usage("pax8", "b-other"))
        before = len(await tenant.staged())

        done = await _remove(
            tenant,
            vendor="pax8",
            batch_id="b1",
            import_id="imp-1",
            label="test.csv",
            dry_run=False,
            expected_records=1,
        )

        assert done.dry_run is False
        assert done.removal_id
        assert (done.records, done.vendor_accounts, done.cards) == (1, 1, 1)
        # Only the import's batch is gone; the other file's usage of the vendor stays.
        assert {batch for _, batch, _, _ in await _usage(tenant)} == {"b-other"}
        endpoint = (await tenant.cards()).get(ENDPOINT)
        assert endpoint is None or endpoint.vendor_quantity is None
        staged = (await tenant.staged())[before:]
        assert [subject for subject, _ in staged][:2] == [
            "recon.*.usage.removed.v1",
            "recon.*.cards.changed.v1",
        ]
        removed = staged[0][1]
        assert removed["removal_id"] == done.removal_id
        assert (removed["vendor"], removed["batch_id"], removed["import_id"]) == (
            "pax8",
            "b1",
            "imp-1",
        )
        assert (removed["label"], removed["records"], removed["cards"]) == ("test.csv", 1, 1)
        assert removed["actor"]["name"] == USER.name

    async def test_a_vendors_usage_goes_and_other_vendors_stay(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10}, {"P1": 14})
        await _apply(tenant, _other_usage("ninjaone", "b-ninja"))

        done = await _remove(tenant, vendor="pax8", dry_run=False, expected_records=1)

        assert done.records == 1
        assert {vendor for vendor, _, _, _ in await _usage(tenant)} == {"ninjaone"}


class TestRefusals:
    async def test_a_stale_count_is_a_409_and_removes_nothing(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10}, {"P1": 14})
        preview = await _remove(tenant, vendor="pax8")
        # The vendor reports more usage after the preview was shown.
        await _apply(tenant, _other_usage("pax8", "b-later"))
        before = await _usage(tenant)

        refused = await _refusal(
            tenant, vendor="pax8", dry_run=False, expected_records=preview.records
        )

        assert refused.status == 409
        assert "4 usage records, not the 1 confirmed" in refused.detail
        assert await _usage(tenant) == before

    async def test_a_real_run_without_the_confirmed_count_is_refused(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10}, {"P1": 14})
        refused = await _refusal(tenant, vendor="pax8", dry_run=False)
        assert refused.status == 422
        assert len(await _usage(tenant)) == 1

    async def test_removing_what_is_not_there_is_a_404(self, tenant: Tenant) -> None:
        await tenant.synced({"P1": 10}, {"P1": 14})
        refused = await _refusal(
            tenant, vendor="pax8", batch_id="nope", dry_run=False, expected_records=0
        )
        assert refused.status == 404
