"""Work a service does on a schedule: one loop, one way to start, wake and stop it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from trueup.platform.logging import get_logger

log = get_logger(__name__)


class PeriodicTask:
    """Runs `tick` now and then every `interval_seconds` until stopped.

    A tick that raises is logged and tried again at the next interval: a database or a
    vendor that is down must not end the schedule for the life of the process. `wake`
    runs the next tick at once (a command asked for the work), without waiting out the
    interval. Ticks never overlap.
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], Awaitable[object]],
        interval_seconds: float,
        *,
        first_delay_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.tick = tick
        self.interval_seconds = interval_seconds
        self.first_delay_seconds = first_delay_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop; a tick cut short is the tick's to make safe (a transaction)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _loop(self) -> None:
        if self.first_delay_seconds > 0:
            await self._sleep(self.first_delay_seconds)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "periodic task failed; will retry at the next interval", task=self.name
                )
            await self._sleep(self.interval_seconds)
