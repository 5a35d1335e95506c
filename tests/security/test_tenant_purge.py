"""Deleting a tenant removes its messages from every JetStream stream and its uploads from
the imports bucket, on a real nats-server; another tenant's stay, and so do the operator's
events about the deleted one (the deletion first: a service that is behind still reads it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from pydantic import SecretStr

from tests.security.conftest import Gateway, StartGateway
from tests.support import eventually
from trueup.contracts import messages as m
from trueup.contracts import subjects
from trueup.contracts.catalogue import CATALOGUE
from trueup.contracts.ingest import IMPORTS_BUCKET
from trueup.contracts.streams import ALL_STREAMS, DEAD_LETTER, stream_for
from trueup.platform.broker import imports_bucket
from trueup.platform.tenant_purge import purge_tenant, tenant_subject_filters
from trueup.platform.tenants import OPERATOR_EVENTS

OPERATOR_TOKEN = "op_" + "p" * 40
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def _matches(subject_filter: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = subject_filter.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


def _tenant(stream: str, subject: str) -> str:
    """Whose message a stored subject is, read the way the subjects are built."""
    if stream == DEAD_LETTER.name:
        subject = subject.split(".", 2)[2]
    return subjects.tenant_of(subject)


def _stored_subjects() -> list[str]:
    """One subject of every event and command the catalogue lists, for tenant `{t}`, that
    the gateway under test neither consumes nor produces itself (its own consumers would
    act on them; its operator events are real ones, made through the API)."""
    return [
        m.subject_for(spec.model, "{t}")
        for spec in CATALOGUE
        if spec.kind != "query"
        and "gateway" not in spec.consumers
        and spec.model not in OPERATOR_EVENTS
    ]


class TestSubjectFilters:
    def test_they_match_every_subject_of_the_tenant_and_none_of_anothers(self) -> None:
        # Another tenant whose id is a command's area or an event's name must not be hit.
        for tenant, other in (("t1", "t2"), ("psa", "t1"), ("t1", "psa"), ("sync", "t1")):
            filters = tenant_subject_filters(tenant)
            for spec in CATALOGUE:
                if spec.kind == "query":
                    continue
                for owner, expected in ((tenant, True), (other, False)):
                    subject = m.subject_for(spec.model, owner)
                    stream = stream_for(subject).name
                    for where, stored in (
                        (stream, subject),
                        (DEAD_LETTER.name, subjects.dead_letter("reconciliation", subject)),
                    ):
                        hit = any(name == where and _matches(f, stored) for name, f in filters)
                        assert hit is expected, (tenant, where, stored)


@pytest.fixture
async def js(clean_nats: str) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(clean_nats)
    try:
        yield connection.jetstream()
    finally:
        await connection.close()


async def _subjects(js: JetStreamContext) -> dict[tuple[str, str], int]:
    """(stream, subject) → messages stored, over every TrueUp stream."""
    stored: dict[tuple[str, str], int] = {}
    for spec in ALL_STREAMS:
        info = await js.stream_info(spec.name, subjects_filter=">")
        for subject, count in (info.state.subjects or {}).items():
            stored[(spec.name, subject)] = count
    return stored


def _of(stored: dict[tuple[str, str], int], tenant_id: str) -> dict[tuple[str, str], int]:
    return {key: n for key, n in stored.items() if _tenant(*key) == tenant_id}


async def _create(gateway: Gateway, tenant_id: str) -> None:
    created = await gateway.client.post(
        "/api/v1/operator/tenants",
        json={"name": f"MSP {tenant_id}", "tenant_id": tenant_id},
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text


async def _use(js: JetStreamContext, gateway: Gateway, tenant_id: str) -> list[str]:
    """Messages of the tenant in every stream, two dead letters, and two uploads; the
    uploads' names."""
    for subject in _stored_subjects():
        concrete = subject.replace("{t}", tenant_id)
        await js.publish(concrete, b'{"names": "and usage"}', headers=_msg_id())
    for service, subject in (
        ("reconciliation", m.subject_for(m.UsageReported, tenant_id)),
        ("psa_sync", m.subject_for(m.TenantDeleted, tenant_id)),
    ):
        await js.publish(subjects.dead_letter(service, subject), b"{}", headers=_msg_id())
    bucket = await imports_bucket(gateway.runtime.broker)
    names = [f"{tenant_id}/{uuid.uuid4().hex}" for _ in range(2)]
    for name in names:
        await bucket.put(name, b"account,sku,quantity\nAcme,M365,3\n")
    return names


def _msg_id() -> dict[str, Any]:
    return {"Nats-Msg-Id": uuid.uuid4().hex}


async def _uploads(js: JetStreamContext) -> set[str]:
    bucket = await js.object_store(IMPORTS_BUCKET)
    return {info.name for info in await bucket.list(ignore_deletes=True) if info.name}


class TestDeletedTenantLeavesNats:
    async def test_its_messages_and_uploads_go_and_anothers_stay(
        self, start_gateway: StartGateway, js: JetStreamContext
    ) -> None:
        doomed, kept = f"doomed-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
        async with start_gateway(operator_token=SecretStr(OPERATOR_TOKEN)) as gateway:
            for tenant_id in (doomed, kept):
                await _create(gateway, tenant_id)
            doomed_uploads = await _use(js, gateway, doomed)
            kept_uploads = await _use(js, gateway, kept)
            # A service behind on deletions: its durable consumer has not read a thing yet.
            await js.add_consumer(
                "TENANT",
                ConsumerConfig(
                    durable_name="behind-tenant-deletions",
                    filter_subject=m.spec_for(m.TenantDeleted).subject,
                ),
            )

            # Each tenant's: what `_use` sent, its two dead letters, and the operator's
            # events the gateway's relay publishes (created, invite issued).
            expected = len(_stored_subjects()) + 2 + 2

            async def published() -> dict[tuple[str, str], int] | None:
                stored = await _subjects(js)
                counts = {len(_of(stored, tenant_id)) for tenant_id in (doomed, kept)}
                return stored if counts == {expected} else None

            before = await eventually(published, what="both tenants' messages in the streams")

            deleted = await gateway.client.delete(
                f"/api/v1/operator/tenants/{doomed}", headers=OPERATOR
            )
            assert deleted.status_code == 202, deleted.text

            async def gone() -> bool:
                listed = await gateway.client.get("/api/v1/operator/tenants", headers=OPERATOR)
                return doomed not in {tenant["tenant_id"] for tenant in listed.json()}

            await eventually(gone, what="the gateway to delete the tenant")

            after = await _subjects(js)
            left = set(_of(after, doomed))
            operator_events = {
                ("TENANT", m.subject_for(model, doomed))
                for model in (m.TenantCreated, m.TenantInviteIssued, m.TenantDeleted)
            }
            dead_deletion = (
                DEAD_LETTER.name,
                subjects.dead_letter("psa_sync", m.subject_for(m.TenantDeleted, doomed)),
            )
            assert left == {*operator_events, dead_deletion}
            assert _of(after, kept) == _of(before, kept)

            uploads = await _uploads(js)
            assert not uploads & set(doomed_uploads)
            assert set(kept_uploads) <= uploads

            # The deletion was left for the service that had not read it yet.
            behind = await js.pull_subscribe_bind("behind-tenant-deletions", stream="TENANT")
            read = await behind.fetch(1, timeout=5)
            assert [message.subject for message in read] == [m.subject_for(m.TenantDeleted, doomed)]

            # Once more finds nothing left to remove.
            assert await purge_tenant(gateway.runtime.broker, doomed) == (0, 0)
