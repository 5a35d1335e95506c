"""Connects the demo tenant to the ConnectWise simulator on first start."""

from __future__ import annotations

from trueup.contracts.messages import Actor, SavePsaConnection
from trueup.platform.database import Database
from trueup.platform.secrets import CredentialSealer
from trueup.psa_sync import service
from trueup.psa_sync.repository import ConnectionRepository

DEMO_CONNECTION_ID = "demo-connectwise"


async def connect_demo_tenant(
    database: Database, sealer: CredentialSealer, tenant_id: str, connectwise_url: str
) -> None:
    """Create the demo connection once (the simulator's documented demo credentials)."""
    async with database.transaction(tenant_id) as session:
        if await ConnectionRepository(session, tenant_id).get(DEMO_CONNECTION_ID) is not None:
            return
        await service.save_connection(
            session,
            sealer,
            tenant_id,
            SavePsaConnection(
                connection_id=DEMO_CONNECTION_ID,
                psa="connectwise",
                name="ConnectWise (demo simulator)",
                credentials={
                    "site": connectwise_url,
                    "company_id": "trueup_demo",
                    "public_key": "TrueUpDemoPublicKey",
                    "private_key": "TrueUpDemoPrivateKey",
                    "client_id": "trueup-demo-client",
                },
                actor=Actor(kind="system", id="demo", name="Demo setup"),
            ),
        )
