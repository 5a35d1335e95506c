"""The tables a tenant's deletion clears: all of a service's, and nothing is left out."""

from __future__ import annotations

import importlib

import pytest
import sqlalchemy as sa

from trueup.platform.tenants import tenant_tables


def _metadata(*extra: sa.Column[str]) -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("parents", metadata, sa.Column("tenant_id", sa.String, primary_key=True))
    sa.Table(
        "children",
        metadata,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("tenant_id", sa.String, sa.ForeignKey("parents.tenant_id")),
        *extra,
    )
    return metadata


class TestTenantTables:
    def test_children_come_before_their_parents_then_outbox_and_inbox(self) -> None:
        names = [table.name for table in tenant_tables(_metadata())]
        assert names[:2] == ["children", "parents"]
        assert set(names[2:]) == {"outbox", "inbox"}

    def test_a_table_without_tenant_id_is_refused(self) -> None:
        metadata = _metadata()
        sa.Table("lookup", metadata, sa.Column("code", sa.String, primary_key=True))
        with pytest.raises(ValueError, match="lookup"):
            tenant_tables(metadata)

    @pytest.mark.parametrize(
        "service",
        ["gateway", "psa_sync", "vendor_ingestion", "reconciliation", "writeback", "audit"],
    )
    def test_every_services_tables_can_be_cleared(self, service: str) -> None:
        models = importlib.import_module(f"trueup.{service}.models")
        assert tenant_tables(models.metadata)
