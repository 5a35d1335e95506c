"""How a batched consumer gathers a batch once its first message has arrived."""

from __future__ import annotations

import asyncio
from typing import Any

from trueup.platform import broker
from trueup.platform.broker import BatchedConsumer


class Trickle:
    """A pull subscription that has one new message every few milliseconds, forever:
    each is pending before the gathering fetch gives up on it."""

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self.fetched = 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        await asyncio.sleep(min(self.every_seconds, timeout))
        if self.every_seconds > timeout:
            raise TimeoutError
        self.fetched += 1
        return [object()]


class Backlog:
    """A pull subscription with many messages pending, handed out a few per fetch."""

    def __init__(self, pending: int) -> None:
        self.pending = pending

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        await asyncio.sleep(0)
        taken = min(batch, 5, self.pending)
        self.pending -= taken
        return [object()] * taken


def consumer() -> BatchedConsumer:
    # `_more` uses nothing of the consumer but its arguments.
    return BatchedConsumer.__new__(BatchedConsumer)


class TestGatheringABatch:
    async def test_a_steady_trickle_does_not_hold_the_batch_until_it_is_full(self) -> None:
        # Messages 2 ms apart, closer than `GATHER_SECONDS`: without a bound on the whole
        # gathering, the first message waited for 999 more (two seconds).
        trickle = Trickle(every_seconds=0.002)
        assert trickle.every_seconds < broker.GATHER_SECONDS

        more = await consumer()._more(trickle, room=999)  # type: ignore[arg-type]

        assert 0 < len(more) < 999
        assert len(more) <= broker.GATHER_WINDOW_SECONDS / trickle.every_seconds + 1

    async def test_a_backlog_fills_the_batch(self) -> None:
        backlog = Backlog(pending=1_000)

        more = await consumer()._more(backlog, room=199)  # type: ignore[arg-type]

        assert len(more) == 199

    async def test_a_quiet_subject_ends_the_gathering_at_once(self) -> None:
        quiet = Trickle(every_seconds=10.0)

        more = await consumer()._more(quiet, room=199)  # type: ignore[arg-type]

        assert more == []
