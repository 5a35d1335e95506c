"""A query whose service cannot reach its database (a restart, a failover) is answered
503, "try again", not 500 "internal error": nothing was done, and a caller holding an
idempotency key asks again. A query whose transaction the database undid to break a
deadlock is run again, and answered 503 only if that keeps happening. A fault of the code
is still a 500."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.exc import DBAPIError

from tests.conftest import Databases
from tests.support import running_gateway, settings_for
from trueup.contracts import recon as r
from trueup.contracts import wrap
from trueup.contracts.envelope import Envelope
from trueup.contracts.messages import subject_for
from trueup.devstack.runtime.nats_server import free_port
from trueup.gateway.settings import Settings as GatewaySettings
from trueup.platform.broker import ask, create_broker, query_responder
from trueup.platform.database import Database

KEY = "tu_outage_key_0123456789abcdefghij"


def _database_down() -> Database:
    """A PostgreSQL database whose server is not listening: what a client sees mid-restart."""
    return Database(f"postgresql+asyncpg://trueup@127.0.0.1:{free_port()}/trueup")


async def _details(envelope: Envelope[r.GetCardQuery]) -> r.CardDetails:
    if envelope.payload.card_id == "bug":
        raise ValueError("a fault of the code")
    database = _database_down()
    try:
        async with database.transaction(envelope.tenant_id):
            raise AssertionError("the database answered")
    finally:
        await database.dispose()


async def _gateway_settings(
    nats_url: str, databases: Databases, tenant_ids: tuple[str, str]
) -> GatewaySettings:
    return await settings_for(
        GatewaySettings,
        databases,
        nats_url,
        bootstrap_tenant_id=tenant_ids[0],
        bootstrap_api_key=SecretStr(KEY),
        query_timeout_seconds=10,
    )


@pytest.fixture
async def reconciliation_without_its_database(clean_nats: str) -> AsyncIterator[None]:
    """Card details answered by a responder whose database is down."""
    broker = create_broker(clean_nats, "outage-test")
    query_responder(broker, service="outage-test", model=r.GetCardQuery, handler=_details)
    await broker.start()
    try:
        yield
    finally:
        await broker.stop()


class TestQueriesDuringADatabaseOutage:
    async def test_the_reply_is_503_and_a_bug_is_still_500(
        self,
        clean_nats: str,
        tenant_ids: tuple[str, str],
        reconciliation_without_its_database: None,
    ) -> None:
        tenant, _ = tenant_ids
        broker = create_broker(clean_nats, "outage-asker")
        await broker.start()
        try:
            subject = subject_for(r.GetCardQuery, tenant)
            down, bug = [
                await ask(
                    broker,
                    subject,
                    wrap(r.GetCardQuery(card_id=card_id), tenant_id=tenant),
                    r.CardDetails,
                    timeout=10,
                )
                for card_id in ("c1", "bug")
            ]
            assert down.result is None
            assert down.error is not None
            assert down.error.status == 503
            assert "nothing was changed" in down.error.detail
            assert bug.error is not None
            assert bug.error.status == 500
        finally:
            await broker.stop()

    async def test_the_gateway_answers_503_with_retry_after(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        reconciliation_without_its_database: None,
    ) -> None:
        settings = await _gateway_settings(clean_nats, databases, tenant_ids)
        async with running_gateway(settings) as gateway:
            answer = await gateway.client.get(
                "/api/v1/cards/c1", headers={"Authorization": f"Bearer {KEY}"}
            )
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "2"
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["title"] == "Service Unavailable"


class TestTheGatewaysOwnDatabaseDown:
    async def test_a_request_answers_503_not_500(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        settings = await _gateway_settings(clean_nats, databases, tenant_ids)
        async with running_gateway(settings) as gateway:
            # The gateway's database goes away under it (its sessions now reach a server
            # that is not listening), as in a PostgreSQL restart.
            database, down = gateway.runtime.database, _database_down()
            database.sessionmaker = down.sessionmaker
            database.read_sessionmaker = down.read_sessionmaker
            # A key the gateway has not seen, so it must ask its database.
            answer = await gateway.client.get(
                "/api/v1/auth/me",
                headers={"Authorization": "Bearer tu_unseen_key_0123456789abcdef"},
            )
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "2"
        assert "nothing was changed" in answer.json()["detail"]


class _DeadlockDetectedError(Exception):
    """What asyncpg raises when PostgreSQL picks the transaction to break a deadlock."""

    sqlstate = "40P01"


class TestQueriesUndoneByADeadlock:
    async def test_the_query_is_run_again_and_answered(
        self, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        # An approval undone by a deadlock was answered 500 "Internal error" (found by the
        # load suite): a client must not retry a 500, and nothing had been done.
        lucky, unlucky = tenant_ids
        runs: Counter[str] = Counter()

        async def settings(envelope: Envelope[r.GetSettings]) -> r.BillingSettings:
            runs[envelope.tenant_id] += 1
            if envelope.tenant_id == unlucky or runs[lucky] == 1:
                raise DBAPIError("SELECT ... FOR UPDATE", None, _DeadlockDetectedError())
            return r.BillingSettings()

        responder = create_broker(clean_nats, "deadlock-test")
        query_responder(responder, service="deadlock-test", model=r.GetSettings, handler=settings)
        asker = create_broker(clean_nats, "deadlock-asker")
        await responder.start()
        await asker.start()
        try:
            answers = [
                await ask(
                    asker,
                    subject_for(r.GetSettings, tenant),
                    wrap(r.GetSettings(), tenant_id=tenant),
                    r.BillingSettings,
                    timeout=10,
                )
                for tenant in (lucky, unlucky)
            ]
        finally:
            await asker.stop()
            await responder.stop()
        assert answers[0].error is None
        assert answers[0].result == r.BillingSettings()
        assert runs[lucky] == 2
        assert answers[1].error is not None
        assert answers[1].error.status == 503
        assert "nothing was changed" in answers[1].error.detail
        assert runs[unlucky] == 3


class TestQueriesOfOneKindAnsweredAtOnce:
    async def test_a_slow_query_does_not_hold_up_another_tenants(
        self, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        # A replica answered one query of a kind at a time: every tenant's approvals
        # waited behind whichever was being answered (found by the load suite, where
        # approvals were accepted at eight a second whatever the load).
        slow, quick = tenant_ids
        release = asyncio.Event()
        started = asyncio.Event()

        async def settings(envelope: Envelope[r.GetSettings]) -> r.BillingSettings:
            if envelope.tenant_id == slow:
                started.set()
                await asyncio.wait_for(release.wait(), timeout=10)
            return r.BillingSettings()

        responder = create_broker(clean_nats, "workers-test")
        query_responder(responder, service="workers-test", model=r.GetSettings, handler=settings)
        asker = create_broker(clean_nats, "workers-asker")
        await responder.start()
        await asker.start()

        def asking(tenant: str, timeout: float) -> Any:
            return ask(
                asker,
                subject_for(r.GetSettings, tenant),
                wrap(r.GetSettings(), tenant_id=tenant),
                r.BillingSettings,
                timeout=timeout,
            )

        try:
            slow_answer = asyncio.create_task(asking(slow, 10))
            await asyncio.wait_for(started.wait(), timeout=5)
            quick_answer = await asking(quick, 2)
            release.set()
            slow_reply = await slow_answer
        finally:
            release.set()
            await asker.stop()
            await responder.stop()
        assert quick_answer.error is None
        assert quick_answer.result == r.BillingSettings()
        assert slow_reply.error is None
