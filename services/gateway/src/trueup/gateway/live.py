"""Pushes card changes to open browsers (server-sent events).

Each gateway replica listens on core NATS to `recon.*.cards.changed.v1` (every replica
needs every event for the browsers it holds, so this is not a shared durable consumer)
and fans events out to the open streams of that tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from faststream.nats import NatsBroker, NatsMessage

from trueup.contracts.envelope import envelope_type
from trueup.contracts.messages import CardsChanged, spec_for
from trueup.gateway.cache import PageCache
from trueup.platform.broker import takes

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 100


class LiveHub:
    """Per-tenant fan-out of card changes to subscribers (one queue per open stream)."""

    def __init__(self, pages: PageCache | None = None) -> None:
        self._queues: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self.pages = pages or PageCache()

    def publish(self, tenant_id: str, data: str) -> None:
        for queue in list(self._queues.get(tenant_id, ())):
            with contextlib.suppress(asyncio.QueueFull):
                # A browser that stopped reading loses events, not the gateway's memory;
                # it refetches on reconnect anyway.
                queue.put_nowait(data)

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant_id: str) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._queues[tenant_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[tenant_id].discard(queue)

    def register(self, broker: NatsBroker) -> None:
        """Listen to card changes of every tenant on this replica."""
        takes(broker, CardsChanged)

        # The event is published to JetStream as a request; answering its reply inbox
        # (faststream answers by default, with an empty body) could reach the publisher
        # before the stream's acknowledgement, and fail the publish.
        @broker.subscriber(
            spec_for(CardsChanged).subject, title="gateway-live-cards", no_reply=True
        )
        async def on_cards_changed(msg: NatsMessage) -> None:
            try:
                envelope = envelope_type(CardsChanged).model_validate_json(msg.body)
            except ValueError:
                return
            self.pages.invalidate(envelope.tenant_id)
            self.publish(envelope.tenant_id, envelope.payload.model_dump_json())


async def event_stream(queue: asyncio.Queue[str]) -> AsyncIterator[str]:
    """`cards.changed` events as SSE frames, with heartbeats so proxies keep it open."""
    yield "retry: 3000\n\n"
    while True:
        try:
            data = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
        except TimeoutError:
            yield ": heartbeat\n\n"
            continue
        yield f"event: cards.changed\ndata: {data}\n\n"
