"""`ServiceRuntime.consume_once`: an event delivered twice takes effect once.

A real nats-server and a real database (psa_sync's migrations give the inbox): the same
envelope is published twice under different JetStream message ids, so the broker's own
dedupe lets both through and only the inbox stands between them and a second effect.
"""

from __future__ import annotations

import nats
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.contracts.streams import stream_for
from trueup.platform.service import ServiceRuntime
from trueup.psa_sync.main import MIGRATIONS
from trueup.psa_sync.settings import Settings

ACTOR = m.Actor(kind="user", id="u1", name="Test")


async def test_a_redelivered_event_is_applied_and_followed_up_once(
    clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
) -> None:
    tenant, _ = tenant_ids
    applied: list[tuple[str, str]] = []
    followed_up: list[object] = []

    async def apply(session: AsyncSession, envelope: Envelope[m.SyncPsa]) -> str:
        # Runs inside the tenant's transaction, beside the inbox entry.
        assert session.in_transaction()
        applied.append((envelope.tenant_id, envelope.event_id))
        return envelope.event_id

    def build(settings: Settings) -> tuple[ServiceRuntime, FastAPI]:
        runtime = ServiceRuntime(settings, MIGRATIONS)
        runtime.consume_once("sync", {m.SyncPsa: apply}, after=followed_up.append)
        return runtime, runtime.http_app()

    settings = await settings_for(Settings, databases, clean_nats)
    envelope = wrap(m.SyncPsa(full=True), tenant_id=tenant)
    subject = m.subject_for(m.SyncPsa, tenant)
    async with running_service(build, settings):
        connection = await nats.connect(clean_nats)
        try:
            js = connection.jetstream()
            for msg_id in ("first", "second"):
                body = envelope.model_dump_json().encode()
                await js.publish(subject, body, headers={"Nats-Msg-Id": msg_id})

            async def both_handled() -> bool | None:
                info = await js.consumer_info(stream_for(subject).name, "psa_sync-sync")
                delivered = info.delivered.stream_seq or 0
                return (
                    delivered >= 2 and not info.num_ack_pending and not info.num_pending
                ) or None

            await eventually(both_handled, timeout=30, what="both deliveries handled")
        finally:
            await connection.close()
    assert applied == [(tenant, envelope.event_id)]
    assert followed_up == [envelope.event_id]
