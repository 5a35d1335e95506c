"""The embedded runtime's supervisor restarts a crashed service, keeps each child's log and
stops them all."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.support import eventually
from trueup.devstack.runtime.__main__ import port_for
from trueup.devstack.runtime.supervisor import ProcessSpec, Supervisor

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


class TestLogFiles:
    async def test_each_child_writes_its_own_file_even_when_quiet(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        talker = [sys.executable, "-c", "print('hello from a', flush=True)"]
        quiet = [sys.executable, "-c", "import time\ntime.sleep(120)"]
        supervisor = Supervisor(
            [ProcessSpec("svc-a", talker), ProcessSpec("svc-b", quiet)],
            base_env={},
            log_dir=tmp_path / "logs",
        )
        supervisor.start()
        try:
            await eventually(
                lambda: asyncio.to_thread(
                    lambda: "hello from a" in _text(tmp_path / "logs" / "svc-a.log")
                ),
                timeout=10,
                what="a's log",
            )
        finally:
            await supervisor.stop(timeout=5)
        first, second, *_ = _text(tmp_path / "logs" / "svc-a.log").splitlines()
        assert (_is_start_marker(first), second) == (True, "hello from a")
        assert [
            _is_start_marker(line)
            for line in (tmp_path / "logs" / "svc-b.log").read_text().splitlines()
        ] == [True]
        assert "svc-a | hello from a" in capsys.readouterr().out

    async def test_each_run_opens_its_part_of_the_log_with_a_start_marker(
        self, tmp_path: Path
    ) -> None:
        log = tmp_path / "logs" / "svc-a.log"
        for run in ("first", "second"):
            talker = [
                sys.executable,
                "-c",
                f"import time\nprint('{run} run', flush=True)\ntime.sleep(120)",
            ]
            supervisor = Supervisor(
                [ProcessSpec("svc-a", talker)], base_env={}, log_dir=tmp_path / "logs"
            )
            supervisor.start()
            try:
                await eventually(
                    lambda run=run: asyncio.to_thread(lambda: f"{run} run" in _text(log)),
                    timeout=10,
                    what=f"the {run} run's line",
                )
            finally:
                await supervisor.stop(timeout=5)
        lines = _text(log).splitlines()
        assert [_is_start_marker(line) for line in lines] == [True, False, True, False]
        assert lines[1::2] == ["first run", "second run"]


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _is_start_marker(line: str) -> bool:
    return re.fullmatch(r"— started at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC —", line) is not None


class TestPorts:
    def test_every_process_of_the_runtime_can_move_to_another_port(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TRUEUP_SIM_PAX8_PORT", "9111")
        monkeypatch.setenv("TRUEUP_PSA_SYNC_PORT", "9011")
        monkeypatch.delenv("TRUEUP_GATEWAY_PORT", raising=False)
        assert port_for("sim-pax8", 8111) == 9111
        assert port_for("psa_sync", 8011) == 9011
        assert port_for("gateway", 8000) == 8000
