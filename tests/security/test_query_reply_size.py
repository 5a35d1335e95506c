"""Issue #16 item 9: a request-reply answer larger than the broker's max payload is an
immediate 413 error reply, not a silent drop that leaves the caller waiting its timeout."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from trueup.contracts import wrap
from trueup.contracts.envelope import Envelope
from trueup.contracts.ingest import GetImport, ImportView
from trueup.contracts.messages import subject_for
from trueup.platform.broker import ask, create_broker, query_responder


def _view(import_id: str, file_name: str) -> ImportView:
    now = datetime.now(UTC)
    return ImportView(
        import_id=import_id,
        file_name=file_name,
        vendor=None,
        status="inspected",
        progress_percent=0,
        size_bytes=0,
        content_sha256="",
        created_at=now,
        updated_at=now,
    )


class TestOversizedReplies:
    async def test_an_answer_over_max_payload_is_refused_at_once(
        self, clean_nats: str, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        broker = create_broker(clean_nats, "reply-size-test")

        async def answer(envelope: Envelope[GetImport]) -> ImportView:
            size = 2 * 1024 * 1024 if envelope.payload.import_id == "huge" else 10
            return _view(envelope.payload.import_id, "x" * size)

        query_responder(broker, service="reply-size-test", model=GetImport, handler=answer)
        await broker.start()
        subject = subject_for(GetImport, tenant)
        try:
            small = await ask(
                broker, subject, wrap(GetImport(import_id="small"), tenant_id=tenant), ImportView
            )
            assert small.result is not None
            started = time.monotonic()
            huge = await ask(
                broker,
                subject,
                wrap(GetImport(import_id="huge"), tenant_id=tenant),
                ImportView,
                timeout=10,
            )
            assert time.monotonic() - started < 5
            assert huge.result is None
            assert huge.error is not None
            assert huge.error.status == 413
            assert "message limit" in huge.error.detail
        finally:
            await broker.stop()
