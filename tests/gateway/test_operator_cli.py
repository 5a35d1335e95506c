"""`python -m trueup.gateway.operator tenants ...`, run in a fresh interpreter as an
operator runs it, against the gateway's database (SQLite, and PostgreSQL when set).
Every change is staged with its event, naming the operator who ran it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Databases
from trueup.contracts import Envelope
from trueup.contracts import messages as m
from trueup.gateway.models import Invite, Tenant
from trueup.platform.database import Database
from trueup.platform.messaging import outbox_table

LOGIN = "ops-ada"


def _by(name: str) -> m.Actor:
    return m.Actor(kind="system", id=f"operator:{name}", name=name)


class Operator:
    def __init__(self, url: str, schema: str | None) -> None:
        self.url = url
        self.schema = schema

    async def run(self, *args: str, login: str = LOGIN) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "TRUEUP_DATABASE_URL": self.url,
            "TRUEUP_PUBLIC_URL": "https://trueup.example",
            "TRUEUP_LOG_LEVEL": "WARNING",
            # Who is logged in, as getpass reads it first.
            "LOGNAME": login,
        }
        if self.schema:
            env["TRUEUP_DATABASE_SCHEMA"] = self.schema
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "trueup.gateway.operator", "tenants", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    async def json(self, *args: str, login: str = LOGIN) -> Any:
        result = await self.run(*args, "--json", login=login)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)

    def database(self) -> Database:
        return Database(self.url, self.schema)


@pytest.fixture
async def operator(databases: Databases) -> Operator:
    return Operator(*await databases.for_service("gateway"))


async def _outbox(operator: Operator) -> list[Envelope[Any]]:
    database = operator.database()
    try:
        async with database.transaction(readonly=True) as session:
            bodies = list(await session.scalars(sa.select(outbox_table.c.body)))
    finally:
        await database.dispose()
    return [Envelope[Any].model_validate_json(body) for body in bodies]


class TestOperatorCommandLine:
    async def test_create_list_suspend_resume_invite_and_delete(self, operator: Operator) -> None:
        created = await operator.json("create", "Acme Managed Services")
        tenant_id = created["tenant_id"]
        assert tenant_id.startswith("acme-managed-services-")
        assert created["invite_url"].startswith("https://trueup.example/invite/inv_")

        other = await operator.json("create", "Other MSP", "--id", "other-msp")
        assert other["tenant_id"] == "other-msp"
        listed = {row["tenant_id"]: row for row in await operator.json("list")}
        assert set(listed) == {tenant_id, "other-msp"}
        assert listed[tenant_id]["status"] == "active"

        assert (await operator.json("suspend", tenant_id))["status"] == "suspended"
        assert (await operator.json("resume", tenant_id))["status"] == "active"
        invite = await operator.json("invite", tenant_id)
        assert invite["invite_url"] != created["invite_url"]

        refused = await operator.run("delete", tenant_id)
        assert refused.returncode == 2
        assert "--yes" in refused.stderr
        assert (await operator.json("delete", tenant_id, "--yes"))["status"] == "deleting"

        statuses = {row["tenant_id"]: row["status"] for row in await operator.json("list")}
        assert statuses == {tenant_id: "deleting", "other-msp": "active"}
        # Every change is staged with its event, for the running gateway to publish.
        events = [(e.tenant_id, e.type) for e in await _outbox(operator)]
        assert events == [
            (tenant_id, m.TenantCreated.message_type),
            (tenant_id, m.TenantInviteIssued.message_type),
            ("other-msp", m.TenantCreated.message_type),
            ("other-msp", m.TenantInviteIssued.message_type),
            (tenant_id, m.TenantStatusChanged.message_type),
            (tenant_id, m.TenantStatusChanged.message_type),
            (tenant_id, m.TenantInviteIssued.message_type),
            (tenant_id, m.TenantDeleted.message_type),
        ]

    async def test_each_change_names_who_ran_it(self, operator: Operator) -> None:
        await operator.json("create", "Named MSP", "--id", "named", "--actor", "Ada Lovelace")
        await operator.json("suspend", "named")  # the logged-in user
        await operator.json("resume", "named", login="ops-bob")
        await operator.json("invite", "named", "--actor", "bob@trueup.example")
        await operator.json("delete", "named", "--yes", "--actor", "Ada Lovelace")
        actors = [
            (e.type, m.Actor.model_validate(e.payload["actor"])) for e in await _outbox(operator)
        ]
        assert actors == [
            (m.TenantCreated.message_type, _by("Ada Lovelace")),
            (m.TenantInviteIssued.message_type, _by("Ada Lovelace")),
            (m.TenantStatusChanged.message_type, _by(LOGIN)),
            (m.TenantStatusChanged.message_type, _by("ops-bob")),
            (m.TenantInviteIssued.message_type, _by("bob@trueup.example")),
            (m.TenantDeleted.message_type, _by("Ada Lovelace")),
        ]

    async def test_a_name_that_cannot_be_recorded_changes_nothing(self, operator: Operator) -> None:
        for name in ("", "x" * 101, "Ann\u202egpj"):
            refused = await operator.run("create", "Unnamed", "--id", "unnamed", "--actor", name)
            assert refused.returncode == 2, name
            assert "--actor" in refused.stderr
        assert await operator.json("list") == []

    async def test_the_invite_token_is_not_stored(self, operator: Operator) -> None:
        created = await operator.json("create", "Hashed MSP")
        token = created["invite_url"].rsplit("/", 1)[1]
        database = operator.database()
        try:
            async with database.transaction(readonly=True) as session:
                stored = list(await session.scalars(sa.select(Invite.token_hash)))
                assert await session.get(Tenant, created["tenant_id"]) is not None
        finally:
            await database.dispose()
        assert len(stored) == 1
        assert token not in stored[0]

    async def test_mistakes_say_what_is_wrong(self, operator: Operator) -> None:
        missing = await operator.run("suspend", "nobody")
        assert missing.returncode == 1
        assert "No tenant nobody" in missing.stderr
        await operator.json("create", "Twice", "--id", "twice")
        again = await operator.run("create", "Twice", "--id", "twice")
        assert again.returncode == 1
        assert "exists already" in again.stderr
        invalid = await operator.run("create", "Bad", "--id", "bad.id")
        assert invalid.returncode == 1
        assert "tenant id" in invalid.stderr

    async def test_plain_output_reads_for_a_person(self, operator: Operator) -> None:
        created = await operator.run("create", "Readable MSP", "--id", "readable")
        assert created.returncode == 0, created.stderr
        assert "Created tenant readable (Readable MSP)." in created.stdout
        assert "https://trueup.example/invite/inv_" in created.stdout
        listed = await operator.run("list")
        assert "readable" in listed.stdout
        assert "active" in listed.stdout
