"""Real processes for the suites that kill them: services, PSA simulators, PSA faults.

The chaos and load suites run each service as `python -m trueup.<service>` and each PSA
simulator as its own uvicorn process, so a SIGKILL is a real one and nothing is shared
in memory with the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx

from trueup.devstack.psa_simulators.server import SimulatorControl
from trueup.devstack.runtime.nats_server import free_port


def _die_with_parent() -> None:
    # Linux: the child gets SIGKILL if this test process dies, so no simulator or service
    # outlives an interrupted run.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python <args>` with the test's environment plus `env`, output appended to `log`."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (kept for the child)
    return subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


async def wait_http(url: str, timeout: float = 30.0) -> None:
    """Until `url` answers 200; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not come up in {timeout:.0f} s")
            await asyncio.sleep(0.1)


@contextlib.contextmanager
def psa_simulator(
    name: str, tmp: Path, *, accounts: int, line_items: int, today: date
) -> Iterator[str]:
    """A PSA simulator (`connectwise`, `autotask`, `halo`) as a process; yields its URL.

    Its demo MSP is dated from `today`, the day the test built its expectations on: a run
    that crosses midnight would otherwise expect yesterday's demo of a simulator built
    today."""
    port = free_port()
    process = spawn(
        [
            "-m",
            f"trueup.devstack.psa_simulators.{name}",
            "--port",
            str(port),
            "--accounts",
            str(accounts),
            "--line-items",
            str(line_items),
            "--today",
            today.isoformat(),
        ],
        log=tmp / f"{name}.log",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


class ServiceProcess:
    """`python -m trueup.<name>` as its own process, killed and restarted at will.

    `env` is on top of the test's environment and must hold `TRUEUP_HTTP_PORT`, where the
    service answers `/readyz`.
    """

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.env['TRUEUP_HTTP_PORT']}/readyz"

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", f"trueup.{self.name}", "migrate"],
            env={**os.environ, **self.env},
            check=True,
        )

    def start(self) -> None:
        self.process = spawn(["-m", f"trueup.{self.name}"], self.env, self.log)

    async def ready(self, timeout: float = 60.0) -> None:
        try:
            await wait_http(self.ready_url, timeout)
        except AssertionError:
            note = f"{self.name} not ready in {timeout:.0f} s; see {self.log}"
            raise AssertionError(note) from None

    def kill(self) -> None:
        """SIGKILL: no drain, no flush, whatever was in hand is redelivered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


async def inject_psa_faults(
    controls: list[SimulatorControl],
    stop: asyncio.Event,
    busy: Callable[[], bool],
    *,
    error_rate: float = 0.10,
) -> None:
    """`error_rate` 500s all the time; every few seconds, while `busy()`, a burst of 429s
    with Retry-After: 1. (Bursts on a nearly idle PSA would land on the last job alone,
    again and again, which is not how a rate limit behaves.)"""
    while not stop.is_set():
        burst = 8 if busy() else 0
        for control in controls:
            with contextlib.suppress(httpx.HTTPError):
                await control.set_faults(
                    error_rate=error_rate, rate_limit_next=burst, retry_after=1
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=4.0)


def writeback_tuning() -> dict[str, str]:
    """Writeback settings that let a kill or a PSA fault be recovered from in seconds
    instead of minutes, so a suite can wait for every job to be final."""
    return {
        "TRUEUP_OUTBOX_POLL_SECONDS": "0.5",
        "TRUEUP_WRITEBACK_CONCURRENCY": "32",
        "TRUEUP_WRITEBACK_LEASE_SECONDS": "4",
        "TRUEUP_WRITEBACK_RETRY_BASE_SECONDS": "0.2",
        "TRUEUP_WRITEBACK_RETRY_MAX_SECONDS": "3",
        "TRUEUP_WRITEBACK_MAX_ATTEMPTS": "40",
        "TRUEUP_PSA_MAX_ATTEMPTS": "4",
        "TRUEUP_PSA_INITIAL_BACKOFF_SECONDS": "0.05",
        "TRUEUP_PSA_MAX_BACKOFF_SECONDS": "1",
        # The PSA simulators listen on loopback, which the SSRF guard refuses unless
        # allowed, as for a self-hosted PSA.
        "TRUEUP_OUTBOUND_ALLOW": "127.0.0.0/8,::1",
    }
