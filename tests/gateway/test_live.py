"""The gateway's live card changes, against a real NATS server.

`recon.<tenant>.cards.changed.v1` is published to JetStream as a request whose reply
inbox waits for the stream's acknowledgement. The gateway listens to the same subject on
core NATS; if it answered that inbox too, the publisher could take the gateway's empty
answer for the acknowledgement, and reconciliation's outbox relay failed ("Expecting
value") and published again.
"""

from __future__ import annotations

import asyncio

import nats
import pytest

from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.gateway.live import LiveHub
from trueup.platform.broker import create_broker


async def test_a_card_change_reaches_the_hub_and_its_sender_gets_no_answer(
    clean_nats: str,
) -> None:
    # No stream: the stream's own acknowledgement would be an answer too.
    nats_url = clean_nats
    hub = LiveHub()
    broker = create_broker(nats_url, "gateway-test")
    hub.register(broker)
    await broker.start()
    connection = await nats.connect(nats_url)
    try:
        envelope = wrap(m.CardsChanged(card_ids=["c1"], reason="usage"), tenant_id="t-live")
        subject = m.subject_for(m.CardsChanged, "t-live")
        async with hub.subscribe("t-live") as frames:
            inbox = connection.new_inbox()
            answers = await connection.subscribe(inbox)
            await connection.publish(subject, envelope.model_dump_json().encode(), reply=inbox)
            frame = await asyncio.wait_for(frames.get(), timeout=10)
            assert '"c1"' in frame
            # The hub has handled the event; an answer would have been sent by now.
            with pytest.raises(TimeoutError):
                await answers.next_msg(timeout=0.5)
    finally:
        await connection.close()
        await broker.stop()
