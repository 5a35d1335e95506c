"""What writeback tests share: a stand-in for psa_sync's connection query, commands,
and a view of jobs and outcome events.

`PsaSyncConnectionsStandIn` answers `GetPsaConnection` the way psa_sync does (credentials
sealed with the shared key), for the simulators' demo credentials. It exists for tests
only, until psa_sync runs beside writeback in them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import nats
from faststream.nats import NatsBroker

from trueup.contracts import Envelope, new_id, wrap
from trueup.contracts.envelope import Payload
from trueup.contracts.messages import (
    Actor,
    ApplyWriteback,
    GetPsaConnection,
    ProratedChange,
    PsaConnectionSealed,
    RetryWriteback,
    subject_for,
)
from trueup.devstack.psa_simulators.demo import build_demo_msp
from trueup.platform.broker import QueryFailedError, query_responder
from trueup.platform.secrets import CredentialSealer

CW_CONNECTION = "conn-cw"
AT_CONNECTION = "conn-at"
TODAY = datetime.now(UTC).date()
ACTOR = Actor(kind="user", id="u-1", name="Billing Admin")


def cw_credentials(url: str) -> dict[str, Any]:
    """The ConnectWise simulator's demo credentials (what psa_sync would have sealed)."""
    return {
        "site": url,
        "company_id": "trueup_demo",
        "public_key": "TrueUpDemoPublicKey",
        "private_key": "TrueUpDemoPrivateKey",
        "client_id": "0f3c1d2e-trueup-tests",
    }


def at_credentials(url: str) -> dict[str, Any]:
    """The Autotask simulator's demo credentials."""
    return {
        "username": "trueup.demo@example.com",
        "secret": "TrueUpDemoSecret",
        "integration_code": "TRUEUPDEMOTRACKINGID",
        "zone_lookup_url": f"{url}/atservicesrest/v1.0/zoneInformation",
    }


def halo_credentials(url: str) -> dict[str, Any]:
    """The HaloPSA simulator's demo credentials."""
    return {
        "base_url": url,
        "client_id": "trueup-demo-client",
        "client_secret": "TrueUpDemoClientSecret",
        "tenant": "trueupdemo",
    }


class PsaSyncConnectionsStandIn:
    """Answers `query.psa.<tenant>.connection.v1` with sealed simulator credentials."""

    def __init__(
        self,
        nats_url: str,
        sealer: CredentialSealer,
        connections: dict[str, tuple[str, dict[str, Any]]],
    ) -> None:
        self.broker = NatsBroker(nats_url, logger=None)
        self.sealer = sealer
        self.connections = connections
        self.asked = 0

        async def answer(envelope: Envelope[GetPsaConnection]) -> PsaConnectionSealed:
            self.asked += 1
            found = self.connections.get(envelope.payload.connection_id)
            if found is None:
                raise QueryFailedError(404, "No such PSA connection")
            psa, document = found
            return PsaConnectionSealed(
                connection_id=envelope.payload.connection_id,
                psa=psa,  # type: ignore[arg-type]
                sealed_credentials=self.sealer.seal(document),
            )

        query_responder(
            self.broker,
            service="psa_sync_stand_in",
            model=GetPsaConnection,
            handler=answer,
        )

    async def __aenter__(self) -> PsaSyncConnectionsStandIn:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()


def demo_line_items(
    count: int, *, skip: int = 0, accounts: int = 48, line_items: int = 600
) -> list[Any]:
    """Demo line items that bill today on active contracts with months left to run
    (from the demo MSP a simulator started with `accounts` and `line_items` holds)."""
    demo = build_demo_msp(accounts=accounts, line_items=line_items, today=TODAY)
    contracts = {c.id: c for c in demo.contracts}
    horizon = TODAY + timedelta(days=120)
    chosen = [
        item
        for item in demo.line_items
        if item.cancelled_date is None
        and item.effective_date <= TODAY
        and contracts[item.contract_id].status == "active"
        and contracts[item.contract_id].start_date <= TODAY
        and (contracts[item.contract_id].end_date or horizon) >= horizon
    ]
    return chosen[skip : skip + count]


def approve(
    item: Any,
    quantity: Decimal,
    *,
    psa: str = "connectwise",
    connection_id: str = CW_CONNECTION,
    expected: Decimal | None = None,
    key: str | None = None,
    changes: Iterable[tuple[date, Decimal]] | None = None,
    prorate: bool = False,
) -> ApplyWriteback:
    """An approve command for a demo line item."""
    steps = list(changes) if changes is not None else [(TODAY, quantity)]
    return ApplyWriteback(
        idempotency_key=key or new_id(),
        card_id=f"card-{item.id}",
        action_id=new_id(),
        action="approve",
        actor=ACTOR,
        connection_id=connection_id,
        psa=psa,  # type: ignore[arg-type]
        contract_psa_id=str(item.contract_id),
        line_item_psa_id=str(item.id),
        product_id=str(item.product.id),
        product_name=item.product.name,
        expected_quantity=item.quantity if expected is None else expected,
        changes=[ProratedChange(effective_date=d, quantity=q) for d, q in steps],
        prorate=prorate,
    )


class Commands:
    """Publishes commands to JetStream as reconciliation and the gateway do."""

    def __init__(self, nats_url: str, tenant_id: str) -> None:
        self.nats_url = nats_url
        self.tenant_id = tenant_id
        self._connection: Any = None

    async def __aenter__(self) -> Commands:
        self._connection = await nats.connect(self.nats_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    async def send(
        self, payload: Payload, *, envelope: Envelope[Any] | None = None, msg_id: str | None = None
    ) -> Envelope[Any]:
        """Publish a command; `envelope` re-sends one already sent, `msg_id` overrides
        `Nats-Msg-Id` (a different id gets past the stream's duplicate window)."""
        envelope = envelope or wrap(payload, tenant_id=self.tenant_id)
        js = self._connection.jetstream()
        await js.publish(
            subject_for(type(payload), self.tenant_id),
            envelope.model_dump_json().encode(),
            headers={"Nats-Msg-Id": msg_id or envelope.event_id},
        )
        return envelope

    async def retry(self, job_id: str) -> Envelope[Any]:
        return await self.send(RetryWriteback(job_id=job_id, actor=ACTOR))


class Outcomes:
    """Collects writeback outcome events of one tenant from NATS."""

    def __init__(self, nats_url: str, tenant_id: str) -> None:
        self.nats_url = nats_url
        self.tenant_id = tenant_id
        self.events: list[dict[str, Any]] = []
        self._connection: Any = None

    async def __aenter__(self) -> Outcomes:
        self._connection = await nats.connect(self.nats_url)

        async def collect(msg: Any) -> None:
            self.events.append(json.loads(msg.data))

        await self._connection.subscribe(f"writeback.{self.tenant_id}.>", cb=collect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == message_type]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} outcome events, got {self.events}")
            await asyncio.sleep(0.05)
        return self.events
