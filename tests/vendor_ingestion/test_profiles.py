"""Saved import profiles through the gateway API: list, rename, delete, roles, tenants."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.support import eventually
from tests.vendor_ingestion.conftest import Stack
from trueup.contracts import Envelope
from trueup.contracts.messages import SettingsChanged, subject_for
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.service import create_api_key, ensure_tenant
from trueup.platform.messaging import outbox_table
from trueup.vendor_ingestion.models import ImportProfile
from trueup.vendor_ingestion.repository import ProfileRepository

LICENCES = b"Customer,SKU,Qty\nAcme,M365-BP,27\nContoso,M365-BP,10\n"
DEVICES = b"Site,Device Class,Status\nAcme,Server,Active\nAcme,Workstation,Active\n"
LICENCE_MAPPING: dict[str, Any] = {
    "vendor": "pax8",
    "mapping": {
        "account_column": "Customer",
        "sku_column": "SKU",
        "quantity_mode": "column_value",
        "quantity_column": "Qty",
    },
}
DEVICE_MAPPING: dict[str, Any] = {
    "vendor": "ninjaone",
    "mapping": {
        "account_column": "Site",
        "sku_column": "Device Class",
        "quantity_mode": "row_count",
    },
}


async def _two_profiles(stack: Stack) -> dict[str, dict[str, Any]]:
    await stack.import_file("pax8.csv", LICENCES, {**LICENCE_MAPPING, "save_profile_as": "Pax8"})
    # The same header again, recognised: a second import that used the profile.
    again = await stack.upload("pax8-2.csv", LICENCES.replace(b"27", b"28"))
    assert again.json()["profile"]["name"] == "Pax8"
    assert (await stack.commit(again.json()["import_id"], {})).status_code == 202
    await stack.finished(again.json()["import_id"])
    await stack.import_file("ninja.csv", DEVICES, {**DEVICE_MAPPING, "save_profile_as": "Ninja"})
    listed = await stack.api.get("/api/v1/import-profiles", headers=stack.headers)
    assert listed.status_code == 200, listed.text
    return {p["name"]: p for p in listed.json()["items"]}


async def _key(stack: Stack, tenant_id: str, role: Role) -> dict[str, str]:
    async with stack.gateway.database.transaction() as session:
        await ensure_tenant(session, tenant_id, "Other MSP")
        _row, key = await create_api_key(session, tenant_id, f"{role.value} key", role)
    return {"Authorization": f"Bearer {key}"}


async def _settings_changes(stack: Stack, count: int) -> list[str] | None:
    """The summaries of the settings changes vendor_ingestion staged, once there are `count`."""
    subject = subject_for(SettingsChanged, stack.tenant_id)
    async with stack.ingestion.database.transaction(stack.tenant_id) as session:
        bodies = (
            await session.scalars(
                sa.select(outbox_table.c.body)
                .where(outbox_table.c.subject == subject)
                .order_by(outbox_table.c.id)
            )
        ).all()
    summaries = [Envelope[SettingsChanged].model_validate_json(b).payload.summary for b in bodies]
    return summaries if len(summaries) >= count else None


class TestListing:
    async def test_each_profile_shows_vendor_header_columns_and_how_often_it_was_used(
        self, stack: Stack
    ) -> None:
        profiles = await _two_profiles(stack)
        pax8, ninja = profiles["Pax8"], profiles["Ninja"]
        assert pax8["vendor"] == "pax8"
        assert pax8["header_columns"] == ["Customer", "SKU", "Qty"]
        assert pax8["imports"] == 2
        assert pax8["last_used_at"] is not None
        assert ninja["header_columns"] == ["Site", "Device Class", "Status"]
        assert ninja["imports"] == 1


class TestRename:
    async def test_an_admin_renames_a_profile_and_its_files_are_still_recognised(
        self, stack: Stack
    ) -> None:
        profiles = await _two_profiles(stack)
        renamed = await stack.api.patch(
            f"/api/v1/import-profiles/{profiles['Pax8']['profile_id']}",
            json={"name": "Pax8 monthly billing"},
            headers=stack.headers,
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "Pax8 monthly billing"
        assert renamed.json()["imports"] == 2
        again = await stack.upload("pax8-3.csv", LICENCES)
        assert again.json()["profile"]["name"] == "Pax8 monthly billing"

    async def test_a_name_another_profile_of_the_tenant_has_is_a_409_problem(
        self, stack: Stack
    ) -> None:
        profiles = await _two_profiles(stack)
        # Another vendor's profile: names are unique within the tenant, not per vendor.
        clash = await stack.api.patch(
            f"/api/v1/import-profiles/{profiles['Pax8']['profile_id']}",
            json={"name": "Ninja"},
            headers=stack.headers,
        )
        assert clash.status_code == 409, clash.text
        assert clash.headers["content-type"].startswith("application/problem+json")
        assert "Ninja" in clash.json()["detail"]
        listed = await stack.api.get("/api/v1/import-profiles", headers=stack.headers)
        assert sorted(p["name"] for p in listed.json()["items"]) == ["Ninja", "Pax8"]

    async def test_renaming_and_deleting_are_recorded_as_settings_changes(
        self, stack: Stack
    ) -> None:
        profiles = await _two_profiles(stack)
        await stack.api.patch(
            f"/api/v1/import-profiles/{profiles['Pax8']['profile_id']}",
            json={"name": "Pax8 billing"},
            headers=stack.headers,
        )
        await stack.api.delete(
            f"/api/v1/import-profiles/{profiles['Ninja']['profile_id']}", headers=stack.headers
        )
        summaries = await eventually(
            lambda: _settings_changes(stack, 2), timeout=10, what="two profile changes"
        )
        assert summaries == [
            "renamed 'Pax8' (pax8) to 'Pax8 billing'",
            "deleted 'Ninja' (ninjaone)",
        ]


class TestDelete:
    async def test_a_deleted_profile_no_longer_recognises_its_files(self, stack: Stack) -> None:
        profiles = await _two_profiles(stack)
        profile_id = profiles["Pax8"]["profile_id"]
        deleted = await stack.api.delete(
            f"/api/v1/import-profiles/{profile_id}", headers=stack.headers
        )
        assert deleted.status_code == 204, deleted.text
        listed = await stack.api.get("/api/v1/import-profiles", headers=stack.headers)
        assert [p["name"] for p in listed.json()["items"]] == ["Ninja"]
        again = await stack.upload("pax8-3.csv", LICENCES)
        assert again.json()["profile"] is None
        gone = await stack.api.delete(
            f"/api/v1/import-profiles/{profile_id}", headers=stack.headers
        )
        assert gone.status_code == 404


class TestRolesAndTenants:
    async def test_a_viewer_reads_profiles_but_cannot_change_them(self, stack: Stack) -> None:
        profiles = await _two_profiles(stack)
        viewer = await _key(stack, stack.tenant_id, Role.VIEWER)
        profile_id = profiles["Pax8"]["profile_id"]
        listed = await stack.api.get("/api/v1/import-profiles", headers=viewer)
        assert listed.status_code == 200
        assert len(listed.json()["items"]) == 2
        rename = await stack.api.patch(
            f"/api/v1/import-profiles/{profile_id}", json={"name": "x"}, headers=viewer
        )
        assert rename.status_code == 403
        delete = await stack.api.delete(f"/api/v1/import-profiles/{profile_id}", headers=viewer)
        assert delete.status_code == 403
        async with stack.ingestion.database.transaction(stack.tenant_id) as session:
            kept = await ProfileRepository(session, stack.tenant_id).get(profile_id)
            assert isinstance(kept, ImportProfile)
            assert kept.name == "Pax8"

    async def test_another_tenants_profile_id_is_a_404(
        self, stack: Stack, tenant_ids: tuple[str, str]
    ) -> None:
        profiles = await _two_profiles(stack)
        other = await _key(stack, tenant_ids[1], Role.ADMIN)
        profile_id = profiles["Pax8"]["profile_id"]
        listed = await stack.api.get("/api/v1/import-profiles", headers=other)
        assert listed.json()["items"] == []
        rename = await stack.api.patch(
            f"/api/v1/import-profiles/{profile_id}", json={"name": "mine"}, headers=other
        )
        assert rename.status_code == 404
        delete = await stack.api.delete(f"/api/v1/import-profiles/{profile_id}", headers=other)
        assert delete.status_code == 404
        mine = await stack.api.get("/api/v1/import-profiles", headers=stack.headers)
        assert sorted(p["name"] for p in mine.json()["items"]) == ["Ninja", "Pax8"]


class TestImportsWithUsage:
    async def test_imports_are_listed_newest_first_with_their_current_records(
        self, stack: Stack, tenant_ids: tuple[str, str]
    ) -> None:
        first = await stack.import_file("first.csv", LICENCES, LICENCE_MAPPING)
        # Acme's usage is replaced by the newer file: the first keeps only Contoso's row.
        second = await stack.import_file(
            "second.csv", b"Customer,SKU,Qty\nAcme,M365-BP,30\n", LICENCE_MAPPING
        )
        failed = await stack.upload("empty.csv", b"Customer,SKU,Qty\n", vendor="pax8")
        listed = await stack.api.get("/api/v1/imports", headers=stack.headers)
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert [(i["import_id"], i["records"]) for i in items] == [
            (second["import_id"], 1),
            (first["import_id"], 1),
        ]
        assert items[0]["file_name"] == "second.csv"
        assert failed.json()["import_id"] not in {i["import_id"] for i in items}
        other = await _key(stack, tenant_ids[1], Role.VIEWER)
        foreign = await stack.api.get("/api/v1/imports", headers=other)
        assert foreign.json()["items"] == []


class TestRemovalRequests:
    async def test_a_removal_names_one_source_and_a_real_run_its_confirmed_count(
        self, stack: Stack
    ) -> None:
        for body in (
            {"dry_run": True},
            {"vendor": "pax8", "import_id": "x", "dry_run": True},
            {"vendor": "pax8", "dry_run": False},
        ):
            response = await stack.api.post(
                "/api/v1/usage/removals", json=body, headers=stack.headers
            )
            assert response.status_code == 422, (body, response.text)

    async def test_an_import_that_stored_nothing_of_its_own_is_a_409(self, stack: Stack) -> None:
        await stack.import_file("a.csv", LICENCES, LICENCE_MAPPING)
        again = await stack.import_file("a-again.csv", LICENCES, LICENCE_MAPPING)
        assert again["status"] == "unchanged"
        response = await stack.api.post(
            "/api/v1/usage/removals",
            json={"import_id": again["import_id"], "dry_run": True},
            headers=stack.headers,
        )
        assert response.status_code == 409, response.text
        assert "unchanged" in response.json()["detail"]
        missing = await stack.api.post(
            "/api/v1/usage/removals",
            json={"import_id": "no-such-import", "dry_run": True},
            headers=stack.headers,
        )
        assert missing.status_code == 404
