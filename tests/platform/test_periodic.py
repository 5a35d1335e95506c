"""The one loop every service's scheduled work runs in."""

from __future__ import annotations

import asyncio

from trueup.platform.periodic import PeriodicTask


class Ticks:
    """Counts ticks; `reached(n)` is set once there have been n."""

    def __init__(self, fail_first: bool = False) -> None:
        self.count = 0
        self.fail_first = fail_first
        self._waiting: dict[int, asyncio.Event] = {}

    def reached(self, n: int) -> asyncio.Event:
        event = self._waiting.setdefault(n, asyncio.Event())
        if self.count >= n:
            event.set()
        return event

    async def __call__(self) -> None:
        self.count += 1
        for n, event in self._waiting.items():
            if self.count >= n:
                event.set()
        if self.fail_first and self.count == 1:
            raise RuntimeError("the database is down")


class TestPeriodicTask:
    async def test_a_failing_tick_does_not_end_the_schedule(self) -> None:
        ticks = Ticks(fail_first=True)
        task = PeriodicTask("test-retry", ticks, 0.01)
        task.start()
        try:
            await asyncio.wait_for(ticks.reached(3).wait(), timeout=10)
            assert task.running
        finally:
            await task.stop()

    async def test_wake_runs_the_next_tick_without_waiting_out_the_interval(self) -> None:
        ticks = Ticks()
        task = PeriodicTask("test-wake", ticks, 3600.0)
        task.start()
        try:
            await asyncio.wait_for(ticks.reached(1).wait(), timeout=10)
            task.wake()
            await asyncio.wait_for(ticks.reached(2).wait(), timeout=10)
        finally:
            await task.stop()

    async def test_a_first_delay_holds_the_first_tick_and_stop_ends_the_loop(self) -> None:
        ticks = Ticks()
        task = PeriodicTask("test-delay", ticks, 0.01, first_delay_seconds=3600.0)
        task.start()
        await asyncio.sleep(0.05)
        assert ticks.count == 0
        await task.stop()
        assert not task.running
        task.wake()
        await asyncio.sleep(0.05)
        assert ticks.count == 0
