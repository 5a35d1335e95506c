"""Issue #16 item 6: connector credentials and webhook signing secrets are sealed at rest.

Before the fix vendor_ingestion stored both in plain text, and the embedded runtime kept
the sealing key in the data folder beside the databases.
"""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from pydantic import SecretStr

from tests.conftest import Databases
from tests.support import running_service, settings_for
from tests.vendor_ingestion import conftest as ingestion
from tests.vendor_ingestion.conftest import Stack
from trueup.devstack.runtime.keyring import demo_credential_keys
from trueup.platform.database import Database
from trueup.platform.migrations import upgrade
from trueup.platform.secrets import CredentialSealer
from trueup.platform.settings import CredentialKeySettings
from trueup.vendor_ingestion.main import MIGRATIONS, build
from trueup.vendor_ingestion.models import ConnectorRow
from trueup.vendor_ingestion.settings import Settings

# vendor_ingestion and the gateway on real NATS: the fixture of tests/vendor_ingestion.
stack = ingestion.stack

PLAIN_SECRET = "whsec_" + "A" * 43 + "="
PLAIN_CLIENT_SECRET = "pax8-client-secret-do-not-store-plain"


async def _raw_rows(database: Database, tenant: str, query: str) -> list[Any]:
    async with database.transaction(tenant) as session:
        return list((await session.execute(sa.text(query))).all())


def _sealer(settings: Any) -> CredentialSealer:
    sealer: CredentialSealer = settings.credential_sealer()
    return sealer


class TestWebhookSecretsAtRest:
    async def test_an_issued_secret_is_stored_sealed_and_still_verifies(self, stack: Stack) -> None:
        created = await stack.api.post(
            "/api/v1/webhooks", json={"vendor": "edr", "name": "EDR"}, headers=stack.headers
        )
        assert created.status_code == 201, created.text
        issued = created.json()["secret"]
        rows = await _raw_rows(
            stack.ingestion.database, stack.tenant_id, "SELECT secret FROM webhook_secrets"
        )
        assert len(rows) == 1
        stored = rows[0][0]
        assert issued not in stored
        assert "whsec_" not in stored
        sealer = _sealer(stack.ingestion.settings)
        assert sealer.open(stored) == {"secret": issued}


class TestConnectorCredentialsAtRest:
    async def test_a_configured_connector_keeps_no_credential_in_clear(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        tmp_path: Path,
    ) -> None:
        tenant, _ = tenant_ids
        settings = await settings_for(
            Settings, databases, clean_nats, scratch_dir=tmp_path, connector_tick_seconds=3600.0
        )
        async with running_service(build, settings) as (runtime, app):
            config = {
                "base_url": "https://api.pax8.example",
                "client_id": "pax8-client",
                "client_secret": PLAIN_CLIENT_SECRET,
            }
            await app.state.scheduler.configure(
                ConnectorRow(
                    tenant_id=tenant,
                    connector_id="pax8-1",
                    kind="pax8",
                    vendor="pax8",
                    config=config,
                    every_seconds=3600,
                    enabled=False,
                    last_records=0,
                )
            )
            rows = await _raw_rows(runtime.database, tenant, "SELECT config FROM connectors")
        stored = rows[0][0]
        text = stored if isinstance(stored, str) else json.dumps(stored)
        assert PLAIN_CLIENT_SECRET not in text
        assert "pax8-client" not in text
        document = json.loads(text) if isinstance(stored, str) else stored
        assert _sealer(settings).open(document["sealed"]) == config


class TestMigrationSealsExistingRows:
    async def test_plaintext_rows_from_before_are_sealed_by_the_migration(
        self, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        url, schema = await databases.for_service("vendor_ingestion")
        await asyncio.to_thread(upgrade, MIGRATIONS, url, schema, revision="0001")
        database = Database(url, schema)
        now = datetime.now(UTC)
        config = {"base_url": "https://api.example", "api_key": "k", "api_secret": "s3cret"}
        try:
            async with database.transaction(tenant) as session:
                # The table as revision 0001 made it (the model has grown columns since).
                await session.execute(
                    sa.insert(
                        sa.table(
                            "connectors",
                            *(
                                sa.column(name)
                                for name in (
                                    "tenant_id",
                                    "connector_id",
                                    "kind",
                                    "vendor",
                                    "every_seconds",
                                    "enabled",
                                    "last_records",
                                )
                            ),
                            sa.column("config", sa.JSON),
                        )
                    ).values(
                        tenant_id=tenant,
                        connector_id="c1",
                        kind="huntress",
                        vendor="huntress",
                        config=config,
                        every_seconds=60,
                        enabled=True,
                        last_records=0,
                    )
                )
                await session.execute(
                    sa.text(
                        "INSERT INTO webhook_secrets"
                        " (tenant_id, secret_id, endpoint_id, secret, created_at)"
                        " VALUES (:t, 's1', :e, :s, :now)"
                    ),
                    {"t": tenant, "e": f"{tenant}.abc", "s": PLAIN_SECRET, "now": now},
                )
            key = CredentialSealer.generate_key()
            keys = CredentialKeySettings(credential_keys=SecretStr(key))
            await asyncio.to_thread(
                upgrade, MIGRATIONS, url, schema, attributes={"credential_keys": keys}
            )
            secrets = await _raw_rows(database, tenant, "SELECT secret FROM webhook_secrets")
            connectors = await _raw_rows(database, tenant, "SELECT config, name FROM connectors")
        finally:
            await database.dispose()
        sealer = CredentialSealer([key])
        assert secrets[0][0] != PLAIN_SECRET
        assert sealer.open(secrets[0][0]) == {"secret": PLAIN_SECRET}
        stored = connectors[0][0]
        document = json.loads(stored) if isinstance(stored, str) else stored
        assert set(document) == {"sealed"}
        assert sealer.open(document["sealed"]) == config
        assert connectors[0][1] == "c1"  # named after its id by migration 0004


class TestKeyRotation:
    async def test_migrate_reseals_what_an_older_key_sealed(
        self, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        old, new = CredentialSealer.generate_key(), CredentialSealer.generate_key()
        url, schema = await databases.for_service("vendor_ingestion")
        with_old = CredentialKeySettings(credential_keys=SecretStr(old))
        await asyncio.to_thread(
            upgrade, MIGRATIONS, url, schema, attributes={"credential_keys": with_old}
        )
        database = Database(url, schema)
        try:
            async with database.transaction(tenant) as session:
                await session.execute(
                    sa.text(
                        "INSERT INTO webhook_secrets"
                        " (tenant_id, secret_id, endpoint_id, secret, created_at)"
                        " VALUES (:t, 's1', :e, :s, :now)"
                    ),
                    {
                        "t": tenant,
                        "e": f"{tenant}.abc",
                        "s": CredentialSealer([old]).seal({"secret": PLAIN_SECRET}),
                        "now": datetime.now(UTC),
                    },
                )
            # Step 1 of a rotation: the new key first, the old one still listed; migrate.
            both = CredentialKeySettings(credential_keys=SecretStr(f"{new},{old}"))
            await asyncio.to_thread(
                upgrade, MIGRATIONS, url, schema, attributes={"credential_keys": both}
            )
            rows = await _raw_rows(database, tenant, "SELECT secret FROM webhook_secrets")
        finally:
            await database.dispose()
        # Step 2 may drop the old key: everything opens with the new one alone.
        assert CredentialSealer([new]).open(rows[0][0]) == {"secret": PLAIN_SECRET}


class TestKeyring:
    def test_keys_rotate_the_first_seals_every_one_opens(self) -> None:
        old, new = CredentialSealer.generate_key(), CredentialSealer.generate_key()
        sealed_with_old = CredentialSealer([old]).seal({"secret": "x"})
        both = CredentialKeySettings(credential_keys=SecretStr(f"{new},{old}")).credential_sealer()
        assert both.open(sealed_with_old) == {"secret": "x"}
        assert CredentialSealer([new]).open(both.seal({"secret": "y"})) == {"secret": "y"}
        assert CredentialSealer([new]).open(both.rotate(sealed_with_old)) == {"secret": "x"}

    def test_keys_can_come_from_a_mounted_file(self, tmp_path: Path) -> None:
        key = CredentialSealer.generate_key()
        path = tmp_path / "run-secrets" / "credential-keys"
        path.parent.mkdir()
        path.write_text(f"{key}\n")
        settings = Settings(credential_keys_file=path, data_dir=tmp_path / "data")
        assert settings.credential_sealer().open(CredentialSealer([key]).seal({"a": 1})) == {"a": 1}

    def test_production_refuses_keys_kept_in_the_data_folder(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        data.mkdir()
        (data / "keys").write_text(CredentialSealer.generate_key())
        settings = Settings(environment="prod", data_dir=data, credential_keys_file=data / "keys")
        with pytest.raises(RuntimeError, match="data folder"):
            settings.credential_sealer()

    def test_production_refuses_the_published_development_key(self) -> None:
        overlay = Path(__file__).parents[2] / "deploy/k8s/overlays/dev/secrets.yaml"
        published = next(
            doc["stringData"]["TRUEUP_CREDENTIAL_KEYS"]
            for doc in yaml.safe_load_all(overlay.read_text())
            if doc and "TRUEUP_CREDENTIAL_KEYS" in doc.get("stringData", {})
        )
        keys = SecretStr(f"{CredentialSealer.generate_key()},{published}")
        with pytest.raises(RuntimeError, match="published"):
            Settings(environment="prod", credential_keys=keys).credential_sealer()
        assert Settings(environment="dev", credential_keys=keys).credential_sealer()

    def test_the_demo_key_lives_outside_the_data_folder_readable_by_its_owner_only(
        self, tmp_path: Path
    ) -> None:
        data = tmp_path / ".data"
        data.mkdir()
        legacy = data / "demo-credentials.json"
        old_key = CredentialSealer.generate_key()
        legacy.write_text(json.dumps({"credential_key": old_key, "email": "a@b.example"}))
        keys = demo_credential_keys(tmp_path, legacy=legacy)
        # An existing demo keeps its key (its sealed rows must still open), moved out.
        assert keys == old_key
        assert "credential_key" not in json.loads(legacy.read_text())
        stored = [p for p in tmp_path.rglob("*") if p.is_file() and old_key in p.read_text()]
        assert len(stored) == 1
        assert data not in stored[0].parents
        assert stat.S_IMODE(stored[0].stat().st_mode) == 0o600
        assert stat.S_IMODE(stored[0].parent.stat().st_mode) == 0o700
        assert demo_credential_keys(tmp_path, legacy=legacy) == old_key
