"""The embedded runtime's supervisor restarts a crashed service and stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tests.support import eventually
from trueup.platform.runtime.supervisor import ProcessSpec, Supervisor

SLEEPER = [sys.executable, "-c", "import time\nprint('up', flush=True)\ntime.sleep(120)"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestSupervisor:
    async def test_a_killed_child_is_restarted_and_stop_ends_every_child(self) -> None:
        supervisor = Supervisor(
            [ProcessSpec("svc-a", SLEEPER), ProcessSpec("svc-b", SLEEPER)], base_env={}
        )
        supervisor.start()
        try:
            pids = await eventually(
                lambda: _pids_when(supervisor, 2), timeout=10, what="both children"
            )
            os.kill(pids["svc-a"], signal.SIGKILL)

            async def restarted() -> dict[str, int] | None:
                now = supervisor.pids()
                new = now.get("svc-a")
                return now if new is not None and new != pids["svc-a"] else None

            after = await eventually(restarted, timeout=10, what="svc-a to come back")
            assert after["svc-b"] == pids["svc-b"]
        finally:
            await supervisor.stop(timeout=5)
        await asyncio.sleep(0.1)
        assert not _alive(after["svc-a"])
        assert not _alive(after["svc-b"])


async def _pids_when(supervisor: Supervisor, count: int) -> dict[str, int] | None:
    pids = supervisor.pids()
    return pids if len(pids) == count else None
