"""The embedded runtime's start-up, fast: services wait for the broker, a broker still
starting costs one quiet line, `status` tells whether NATS answers, simulators start
without warnings.

The slow end-to-end checks (the whole stack with port 4222 taken) are in
`test_first_run.py`; these pin each piece with a real nats-server, or a stub where only
the order of things matters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import trueup.devstack.runtime.__main__ as runtime
from tests.support import eventually
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port
from trueup.platform.broker import provision_streams
from trueup.platform.logging import configure_logging

RETRY_NOTE = "is not answering yet; retrying"


class TestWaitingForTheBroker:
    async def test_wait_ready_waits_for_a_late_server_with_one_note_and_nothing_on_stderr(
        self,
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        server = EmbeddedNats(tmp_path / "nats", free_port())
        notes: list[str] = []
        waiting = asyncio.create_task(server.wait_ready(timeout=60, on_retry=notes.append))
        try:
            # Refused at least once: nothing listens on the port yet.
            await eventually(lambda: _now(bool(notes)), timeout=30, what="a retry note")
            assert not waiting.done()
            server.start(tmp_path / "nats-server.log")
            await waiting
        finally:
            if not waiting.done():
                waiting.cancel()
            server.stop()

        assert notes == [f"nats-server at {server.url} {RETRY_NOTE}"]
        # Its log is appended to across runs: this run's part opens with a marker.
        first_line = (tmp_path / "nats-server.log").read_text().splitlines()[0]
        assert first_line.startswith("— started at ")
        assert capfd.readouterr().err == ""
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []

    async def test_a_service_provisioning_before_the_broker_answers_logs_one_line_per_retry(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        server = EmbeddedNats(tmp_path / "nats", free_port())
        stderr: list[str] = []

        async def retried() -> bool:
            stderr.append(capfd.readouterr().err)
            return "nats connection retry" in "".join(stderr)

        configure_logging("svc", "INFO", "json")
        try:
            provisioning = asyncio.create_task(provision_streams(server.url))
            await eventually(retried, timeout=30, what="a retry line")
            server.start()
            try:
                await asyncio.wait_for(provisioning, timeout=60)
            finally:
                server.stop()
            stderr.append(capfd.readouterr().err)
        finally:
            configure_logging("tests", "WARNING", "console")

        err = "".join(stderr)
        assert "Traceback" not in err
        lines = [json.loads(line) for line in err.splitlines()]
        assert lines
        for line in lines:
            assert (line["event"], line["level"]) == ("nats connection retry", "info")
            assert line["error"].startswith("ConnectionRefusedError: ")
            assert "exception" not in line

    async def test_up_starts_the_services_only_once_nats_answers(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        events: list[str] = []

        class StubNats:
            def __init__(self, store_dir: Path, port: int, host: str = "127.0.0.1") -> None:
                self.url = f"nats://{host}:{port}"
                self.process = None

            def start(self, log_file: Path | None = None) -> None:
                events.append("nats started")

            async def wait_ready(self, timeout: float = 20.0, on_retry: Any = None) -> None:
                await asyncio.sleep(0.2)  # answers only after a while
                events.append("nats ready")

            def stop(self) -> None:
                events.append("nats stopped")

        class ServicesStartedError(Exception):
            pass

        class StubSupervisor:
            def __init__(self, specs: Any, *, base_env: Any, log_dir: Any = None) -> None:
                pass

            def start(self) -> None:
                events.append("services started")
                raise ServicesStartedError

        def migrate(argv: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
            events.append("migrated")
            return subprocess.CompletedProcess(argv, 0)

        monkeypatch.setattr(runtime, "EmbeddedNats", StubNats)
        monkeypatch.setattr(runtime, "Supervisor", StubSupervisor)
        monkeypatch.setattr(runtime, "port_is_free", lambda port: True)
        monkeypatch.setattr(runtime.subprocess, "run", migrate)

        with pytest.raises(ServicesStartedError):
            await runtime.up(runtime.Paths(tmp_path))

        assert events[:2] == ["nats started", "nats ready"]
        assert events[-1] == "services started"


async def _now(value: bool) -> bool:
    return value


DEMO_PSA = {"connection_id": "demo-connectwise", "status": "ok"}
STARTED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLLED = "2026-01-05T09:00:02Z"


def _connector(connector_id: str, last_run_at: str | None, enabled: bool = True) -> Any:
    return {"connector_id": connector_id, "enabled": enabled, "last_run_at": last_run_at}


def _gateway(psa: Any, connectors: Any, status: int = 200) -> httpx.AsyncClient:
    """A gateway answering the two questions `up` asks about the demo's start-up work."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tu_demo_key"
        if request.url.path == "/api/v1/settings/psa":
            return httpx.Response(status, json={"connections": psa, "active_accounts": 0})
        assert request.url.path == "/api/v1/connectors"
        return httpx.Response(status, json={"items": connectors})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


class TestTheBannerComesLast:
    @pytest.mark.parametrize(
        ("psa", "connectors", "pending"),
        [
            pytest.param([DEMO_PSA], [_connector("demo-pax8", POLLED)], False, id="all done"),
            pytest.param(
                [{**DEMO_PSA, "status": "never_synced"}], [], True, id="first sync not begun"
            ),
            pytest.param([{**DEMO_PSA, "status": "syncing"}], [], True, id="sync running"),
            pytest.param([{**DEMO_PSA, "status": "bad_credentials"}], [], False, id="sync failed"),
            pytest.param([DEMO_PSA], [_connector("demo-pax8", None)], True, id="never polled"),
            pytest.param(
                [DEMO_PSA],
                [_connector("demo-pax8", "2026-01-05T08:59:00Z")],
                True,
                id="polled by an earlier run only",
            ),
            pytest.param(
                [DEMO_PSA],
                [_connector("demo-pax8", "2026-01-05T09:00:02")],
                False,
                id="a time without zone is UTC",
            ),
            pytest.param(
                [DEMO_PSA, {"connection_id": "acme-psa", "status": "never_synced"}],
                [_connector("own-ninja", None), _connector("demo-huntress", None, False)],
                False,
                id="not the demo's or disabled",
            ),
        ],
    )
    async def test_the_demo_work_is_pending_until_synced_and_polled_since_start(
        self, psa: Any, connectors: Any, pending: bool
    ) -> None:
        async with _gateway(psa, connectors) as client:
            assert (
                await runtime._demo_work_pending(client, "http://gw", "tu_demo_key", STARTED)
                is pending
            )

    @pytest.mark.parametrize(("status", "pending"), [(401, False), (503, True)])
    async def test_a_refused_question_is_not_waited_for_an_unavailable_gateway_is(
        self, status: int, pending: bool
    ) -> None:
        async with _gateway([], [], status) as client:
            assert (
                await runtime._demo_work_pending(client, "http://gw", "tu_demo_key", STARTED)
                is pending
            )

    async def test_settle_waits_for_the_work_then_a_quiet_console(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        supervisor = runtime.Supervisor([], base_env={})
        answers = [True, True, False]

        async def pending(*_: Any) -> bool:
            supervisor.last_line_at = time.monotonic()  # the work prints as it goes
            return answers.pop(0)

        monkeypatch.setattr(runtime, "_demo_work_pending", pending)
        settled = await runtime._settle(supervisor, "http://gw", "key", STARTED, timeout=60)
        assert settled
        assert answers == []
        assert time.monotonic() - supervisor.last_line_at >= runtime.QUIET_SECONDS

    async def test_settle_gives_up_after_its_timeout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(runtime, "_demo_work_pending", lambda *_: _now(True))
        supervisor = runtime.Supervisor([], base_env={})
        assert not await runtime._settle(supervisor, "http://gw", "key", STARTED, timeout=0)

    @pytest.mark.parametrize("settles", [True, False])
    async def test_up_prints_the_banner_once_settled_or_says_why_not(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        settles: bool,
    ) -> None:
        events: list[str] = []

        class ReadyNats:
            url = "nats://127.0.0.1:4222"
            process = None

            def __init__(self, *_: Any) -> None:
                pass

            def start(self, log_file: Path | None = None) -> None:
                pass

            async def wait_ready(self, timeout: float = 20.0, on_retry: Any = None) -> None:
                pass

        class BannerPrintedError(Exception):
            pass

        async def settle(*_: Any) -> bool:
            await asyncio.sleep(0.1)
            events.append("settled" if settles else "timed out")
            return settles

        async def every_process_ready(specs: Any, timeout: float) -> dict[str, bool]:
            return {spec.name: True for spec in specs}

        def banner(lines: list[str]) -> None:
            events.append("banner")
            raise BannerPrintedError

        monkeypatch.setattr(runtime, "EmbeddedNats", ReadyNats)
        monkeypatch.setattr(runtime.Supervisor, "start", lambda self: None)
        monkeypatch.setattr(runtime, "port_is_free", lambda port: True)
        monkeypatch.setattr(
            runtime.subprocess, "run", lambda argv, **_: subprocess.CompletedProcess(argv, 0)
        )
        monkeypatch.setattr(runtime, "_wait_ready", every_process_ready)
        monkeypatch.setattr(runtime, "_settle", settle)
        monkeypatch.setattr(runtime, "jetstream_answers", lambda url: _now(True))
        monkeypatch.setattr(runtime, "_banner", banner)

        with pytest.raises(BannerPrintedError):
            await runtime.up(runtime.Paths(tmp_path))

        assert events == ["settled" if settles else "timed out", "banner"]
        note = "still running after 60 s; their lines will follow the banner."
        assert (note in capsys.readouterr().out) is not settles


class TestStatus:
    def _running(self, root: Path, nats_url: str) -> runtime.Paths:
        """A state file as `up` writes it, this test's process as the supervisor."""
        paths = runtime.Paths(root)
        paths.run.mkdir(parents=True)
        state = {
            "pid": os.getpid(),
            "gateway_url": "http://127.0.0.1:1",
            "nats_url": nats_url,
            "processes": [],
            "children": {},
        }
        paths.state.write_text(json.dumps(state))
        return paths

    async def test_nats_answering_is_shown_ready(
        self, tmp_path: Path, nats_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = await runtime.status(self._running(tmp_path, nats_url))
        out = capsys.readouterr().out
        assert code == 0, out
        assert _nats_line(out).split()[2:] == ["ready"]

    async def test_nats_down_is_not_ready_and_fails_the_exit_code(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        down = f"nats://127.0.0.1:{free_port()}"
        code = await runtime.status(self._running(tmp_path, down))
        out = capsys.readouterr().out
        assert code == 1, out
        assert _nats_line(out).split()[2:] == ["NOT", "READY"]
        assert "TrueUp is running, NOT all ready" in out


def _nats_line(banner: str) -> str:
    """The banner's nats line, without its border: `nats <url> ready`."""
    (line,) = [line for line in banner.splitlines() if line.startswith("| nats ")]
    return line.strip("| ")


class TestSimulatorsStartQuietly:
    @pytest.mark.parametrize("vendor", ["pax8", "ninjaone", "huntress"])
    def test_running_a_vendor_simulator_prints_no_warning(self, vendor: str) -> None:
        # `--help` runs the module as `up` does (`python -m`) and exits at once.
        result = subprocess.run(
            [sys.executable, "-m", f"trueup.devstack.vendor_simulators.{vendor}", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr, result.stderr
