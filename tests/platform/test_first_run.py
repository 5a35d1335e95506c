"""A first run reads well: the embedded runtime with port 4222 taken, a demo sync and import.

One stack for the module, started as `./task up` starts it, but with every port moved to
a free one (`TRUEUP_<NAME>_PORT`) and 4222 held, so it never collides with a stack
someone else runs and always takes the "4222 is taken" path. Starting it costs about a
minute on a busy machine: marked `slow` (still run by `./task test`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.embedded_stack import embedded_stack, runtime_command
from trueup.devstack.runtime.__main__ import SERVICES, SIMULATORS, port_variable
from trueup.devstack.runtime.nats_server import free_port, port_is_free

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CSV = ROOT / "tests" / "vendors" / "fixtures" / "distributor-billing-bom.csv"
STARTUP_SECONDS = 240

# The documented bound (docs/operations.md, "Logs"): the console lines the whole stack
# prints from `up` until the demo sync, the three demo connector polls and one CSV import
# are done, banner excluded. Today it is about 15: a line per service start, the sync's
# start and finish, a line per poll, the import.
MAX_CONSOLE_LINES = 40


@dataclass
class Stack:
    root: Path
    output: Path
    process: subprocess.Popen[bytes]
    gateway_url: str

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def runtime(self, *args: str) -> subprocess.CompletedProcess[str]:
        return runtime_command(self.root, *args)

    def credentials(self) -> dict[str, str]:
        stored: dict[str, str] = json.loads(
            (self.root / ".data" / "demo-credentials.json").read_text()
        )
        return stored


@contextlib.contextmanager
def _port_4222_taken() -> Iterator[None]:
    """Hold 4222 unless something (another stack's NATS) already does."""
    if not port_is_free(4222):
        yield
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 4222))
        holder.listen()
        yield


def _wait_for(condition: object, timeout: float, what: str, stack: Stack) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if stack.process.poll() is not None:
            pytest.fail(f"the runtime exited ({stack.process.returncode}):\n{stack.text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s:\n{stack.text()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("first-run")
    ports = {name: free_port() for name, _ in SERVICES}
    ports |= {name: free_port() for name, _, _ in SIMULATORS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUEUP_")}
    env |= {port_variable(name): str(port) for name, port in ports.items()}
    output = root / "console.txt"

    def banner() -> bool:
        return "TrueUp is running" in output.read_text(errors="replace")

    with (
        _port_4222_taken(),
        embedded_stack(
            root, console=output, ready=banner, timeout=STARTUP_SECONDS, env=env
        ) as process,
    ):
        yield Stack(root, output, process, f"http://127.0.0.1:{ports['gateway']}")


def _import_csv(stack: Stack) -> None:
    """One CSV import through the gateway, as the import wizard does it."""
    headers = {"Authorization": f"Bearer {stack.credentials()['api_key']}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as client:
        with FIXTURE_CSV.open("rb") as file:
            upload = client.post(
                "/api/v1/imports",
                files={"file": (FIXTURE_CSV.name, file, "text/csv")},
                data={"vendor": "pax8"},
            )
        assert upload.status_code == 201, upload.text
        import_id = upload.json()["import_id"]
        mapping = {
            "account_column": "companyName",
            "sku_column": "productName",
            "quantity_mode": "sum_per_sku",
            "quantity_column": "quantity",
        }
        commit = client.post(
            f"/api/v1/imports/{import_id}/commit",
            json={"mapping": mapping, "vendor": "pax8", "skip_invalid_rows": True},
        )
        assert commit.status_code == 202, commit.text
        deadline = time.monotonic() + 90
        while client.get(f"/api/v1/imports/{import_id}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the import did not complete within 90 s"
            time.sleep(0.5)


def _banner_end(text: str) -> int:
    """The index of the banner's closing border among `text`'s lines (from its title)."""
    borders = [i for i, line in enumerate(text.splitlines()) if line.startswith("+-")]
    return borders[0]


def _console_lines(text: str) -> list[str]:
    """What a person reads in the console, the banner box left out."""
    return [line for line in text.splitlines() if line and not line.startswith(("+", "| "))]


class TestStartingWithPort4222Taken:
    def test_it_starts_its_own_nats_and_prints_no_traceback(self, stack: Stack) -> None:
        text = stack.text()
        assert "starting TrueUp's own nats-server on port" in text
        assert "Traceback" not in text
        assert "ConnectionRefusedError" not in text
        assert "NOT READY" not in text
        # Python's warnings (a simulator's RuntimeWarning from runpy, a deprecation).
        assert not [line for line in text.splitlines() if "Warning" in line]

    def test_the_banner_comes_last_after_every_service_and_the_demo_work(
        self, stack: Stack
    ) -> None:
        # Runs before any test acts on the stack (the import, `status`).
        text = stack.text()
        before_banner, banner_and_after = text.split("TrueUp is running", 1)
        started = {
            line.split("|")[0].strip()
            for line in before_banner.splitlines()
            if "service started" in line
        }
        assert started == {name for name, _port in SERVICES}
        assert "sync completed" in before_banner
        assert before_banner.count("connector.polled") == 3
        after_banner = banner_and_after.splitlines()[_banner_end(banner_and_after) + 1 :]
        assert after_banner == []


class TestQuietDemo:
    def test_a_demo_sync_and_import_stay_under_the_documented_line_bound(
        self, stack: Stack
    ) -> None:
        _wait_for(lambda: "sync completed" in stack.text(), 120, "demo sync", stack)
        _wait_for(lambda: stack.text().count("connector.polled") >= 3, 120, "demo polls", stack)
        _import_csv(stack)
        _wait_for(lambda: "import completed" in stack.text(), 60, "import line", stack)
        time.sleep(3)  # what the import sets off downstream (reconciliation, audit)

        lines = _console_lines(stack.text())
        assert not [line for line in lines if "Received" in line or "Processed" in line]
        assert len(lines) <= MAX_CONSOLE_LINES, "\n".join(lines)


class TestStatusAndLogs:
    def test_status_shows_every_process_healthy_and_the_demo_login(self, stack: Stack) -> None:
        result = stack.runtime("status")
        assert result.returncode == 0, result.stdout + result.stderr
        credentials = stack.credentials()
        for name in (*(name for name, _port in SERVICES), "nats"):
            assert any(
                line.startswith(f"| {name} ") and line.split()[3:4] == ["ready"]
                for line in result.stdout.splitlines()
            ), name
        assert credentials["password"] in result.stdout
        assert credentials["api_key"] in result.stdout

    def test_each_process_has_a_log_and_logs_prints_one(self, stack: Stack) -> None:
        logs = stack.root / ".data" / "logs"
        for name, *_ in (*SERVICES, *SIMULATORS):
            assert (logs / f"{name}.log").exists(), name
        result = stack.runtime("logs", "psa_sync", "--no-follow")
        assert result.returncode == 0, result.stderr
        assert "sync completed" in result.stdout
        assert stack.credentials()["password"] not in (logs / "gateway.log").read_text()
