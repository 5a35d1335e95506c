"""`python -m trueup.devstack.runtime up|down|status|logs`: the embedded TrueUp on one machine.

`up` starts NATS (from the wheel, JetStream under `.data/nats`) and waits until it
answers, migrates every service's SQLite file, then runs the simulators and the services
under the supervisor until Ctrl-C; once every process answers and the demo's first sync
and connector polls are done, it prints the banner, last. Each process's output is kept
in `.data/logs/<name>.log`. `down` stops a stack that `up`
started, from another terminal; `status` says what runs where and how healthy it is, with
the demo login; `logs [name]` follows one process's log (or all of them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from trueup.devstack.runtime.keyring import demo_credential_keys
from trueup.devstack.runtime.nats_server import (
    EmbeddedNats,
    free_port,
    jetstream_answers,
    port_is_free,
)
from trueup.devstack.runtime.supervisor import ProcessSpec, Supervisor
from trueup.devstack.vendor_simulators import demo_connectors

SERVICES: tuple[tuple[str, int], ...] = (
    ("gateway", 8000),
    ("psa_sync", 8011),
    ("vendor_ingestion", 8012),
    ("reconciliation", 8013),
    ("writeback", 8014),
    ("audit", 8015),
)
SIMULATORS: tuple[tuple[str, str, int], ...] = (
    ("sim-connectwise", "trueup.devstack.psa_simulators.connectwise", 8101),
    ("sim-autotask", "trueup.devstack.psa_simulators.autotask", 8102),
    ("sim-halo", "trueup.devstack.psa_simulators.halo", 8103),
    ("sim-pax8", "trueup.devstack.vendor_simulators.pax8", 8111),
    ("sim-ninjaone", "trueup.devstack.vendor_simulators.ninjaone", 8112),
    ("sim-huntress", "trueup.devstack.vendor_simulators.huntress", 8113),
)

START_UP_WORK_SECONDS = 60.0
"""How long `up` waits, once every process answers, for the demo's start-up work (the
first PSA sync, a first poll of each demo connector) before printing the banner anyway."""
QUIET_SECONDS = 1.0
"""How long the console must have been quiet before the banner: the work's last line
is printed just after the gateway reports it done."""


def port_variable(name: str) -> str:
    """The environment variable that moves one process to another port."""
    return f"TRUEUP_{name.upper().replace('-', '_')}_PORT"


def port_for(name: str, default: int) -> int:
    """A process's port: `TRUEUP_<NAME>_PORT` (e.g. `TRUEUP_SIM_PAX8_PORT`), else its default.

    Every port can move, so two stacks (or a test and a stack) can run side by side.
    """
    return int(os.environ.get(port_variable(name)) or default)


def _simulator_settings(simulators: list[tuple[str, str, int]]) -> dict[str, str]:
    """The settings that point the demo tenant at the simulators: its PSA connection
    (psa_sync) and its vendor connectors (vendor_ingestion)."""
    urls = {name: f"http://127.0.0.1:{port}" for name, _module, port in simulators}
    vendors = {
        name.removeprefix("sim-"): url
        for name, url in urls.items()
        if name in ("sim-pax8", "sim-ninjaone", "sim-huntress")
    }
    settings = {"TRUEUP_DEMO_CONNECTORS": json.dumps(demo_connectors(vendors))}
    if "sim-connectwise" in urls:
        settings["TRUEUP_DEMO_CONNECTWISE_URL"] = urls["sim-connectwise"]
    return settings


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Paths:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / ".data"
        self.run = self.data / "run"
        self.state = self.run / "supervisor.json"
        self.credentials = self.data / "demo-credentials.json"
        self.nats_store = self.data / "nats"
        self.logs = self.data / "logs"
        self.nats_log = self.logs / "nats-server.log"


def _demo_credentials(paths: Paths) -> dict[str, str]:
    """The demo tenant's login and API key: from the environment, else kept across runs."""
    stored: dict[str, str] = {}
    if paths.credentials.exists():
        stored = json.loads(paths.credentials.read_text())
    credentials = {
        "email": stored.get("email", "admin@demo-msp.example"),
        "password": stored.get("password") or secrets.token_urlsafe(12),
        "api_key": stored.get("api_key") or "tu_demo_" + secrets.token_urlsafe(24),
    }
    paths.credentials.write_text(json.dumps(credentials, indent=2))
    paths.credentials.chmod(0o600)
    if os.environ.get("TRUEUP_BOOTSTRAP_API_KEY"):
        credentials["api_key"] = os.environ["TRUEUP_BOOTSTRAP_API_KEY"]
    return credentials


def _session_secrets(paths: Paths) -> str:
    """The gateway's session signing keys: from the environment, else this installation's own.

    Generated once (32 random bytes) into `.data/session-secret`, readable by the owner
    only, and reused by every later `up`, so sessions survive a restart.
    """
    configured = os.environ.get("TRUEUP_JWT_SECRETS") or os.environ.get("TRUEUP_JWT_SECRET")
    if configured:
        return configured
    path = paths.data / "session-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created with mode 0600 in one step: never readable by others, not even briefly.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path.read_text().strip()


def _running_state(paths: Paths) -> dict[str, Any] | None:
    if not paths.state.exists():
        return None
    state: dict[str, Any] = json.loads(paths.state.read_text())
    if _pid_alive(int(state.get("pid", 0))):
        return state
    return None


def _write_state(paths: Paths, state: dict[str, Any]) -> None:
    tmp = paths.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(paths.state)


async def _wait_ready(specs: list[ProcessSpec], timeout: float) -> dict[str, bool]:
    ready = {s.name: False for s in specs if s.ready_url}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            for spec in specs:
                if spec.ready_url and not ready[spec.name]:
                    ready[spec.name] = await _answers(client, spec)
            if all(ready.values()) or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.5)


async def _answers(client: httpx.AsyncClient, spec: ProcessSpec) -> bool:
    if not spec.ready_url:
        return False
    with contextlib.suppress(httpx.HTTPError):
        response = await client.get(spec.ready_url)
        if spec.ready_on_any_answer:
            return response.status_code < 500
        return response.status_code == 200
    return False


async def _demo_work_pending(
    client: httpx.AsyncClient, gateway_url: str, api_key: str, since: datetime
) -> bool:
    """Whether the demo's start-up work is still going, as the gateway reports it: the
    demo PSA connection not yet synced (or failed), or a demo connector not polled since
    `since`. An answer the gateway refuses (a replaced API key) is not worth waiting for.
    """
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        psa = await client.get(f"{gateway_url}/api/v1/settings/psa", headers=headers)
        connectors = await client.get(f"{gateway_url}/api/v1/connectors", headers=headers)
    except httpx.HTTPError:
        return True
    if 400 <= psa.status_code < 500 or 400 <= connectors.status_code < 500:
        return False
    if psa.status_code != 200 or connectors.status_code != 200:
        return True
    try:
        syncing = any(
            connection["status"] in ("never_synced", "syncing")
            for connection in psa.json()["connections"]
            if connection["connection_id"].startswith("demo-")
        )
        unpolled = any(
            connector["last_run_at"] is None or _utc(connector["last_run_at"]) < since
            for connector in connectors.json()["items"]
            if connector["connector_id"].startswith("demo-") and connector["enabled"]
        )
    except (KeyError, TypeError, ValueError):
        return False  # an answer this runtime cannot read: nothing to wait for
    return syncing or unpolled


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _settle(
    supervisor: Supervisor, gateway_url: str, api_key: str, since: datetime, timeout: float
) -> bool:
    """Wait for the demo's start-up work, then for a quiet console, so that the banner
    is the last thing `up` prints; False when `timeout` seconds were not enough."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5.0) as client:
        while await _demo_work_pending(client, gateway_url, api_key, since):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.5)
    while (quiet := time.monotonic() - supervisor.last_line_at) < QUIET_SECONDS:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(QUIET_SECONDS - quiet)
    return True


def _banner(lines: list[str]) -> None:
    width = max(len(line) for line in lines) + 2
    print("+" + "-" * width + "+")
    for line in lines:
        print(f"| {line:<{width - 1}}|")
    print("+" + "-" * width + "+", flush=True)


def _banner_lines(
    specs: list[ProcessSpec],
    ready: dict[str, bool],
    nats_url: str,
    nats_ready: bool,
    gateway_url: str,
    credentials: dict[str, str] | None,
    footer: str,
) -> list[str]:
    lines = ["TrueUp is running", ""]
    for spec in specs:
        mark = "ready" if ready.get(spec.name) else "NOT READY"
        lines.append(f"{spec.name:<18} http://127.0.0.1:{spec.port:<6} {mark}")
    nats_mark = "ready" if nats_ready else "NOT READY"
    lines += [f"{'nats':<18} {nats_url:<23} {nats_mark}", "", f"Open {gateway_url}"]
    if credentials is not None:
        lines += [
            f"Demo login:   {credentials['email']} / {credentials['password']}",
            f"Demo API key: {credentials['api_key']}",
            f"Try: curl -H 'Authorization: Bearer {credentials['api_key']}' "
            f"{gateway_url}/api/v1/cards",
        ]
    lines += ["", footer]
    return lines


def _spec_state(spec: ProcessSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "port": spec.port,
        "ready_url": spec.ready_url,
        "ready_on_any_answer": spec.ready_on_any_answer,
    }


def _spec_from_state(entry: dict[str, Any]) -> ProcessSpec:
    return ProcessSpec(
        entry["name"],
        [],
        ready_url=entry.get("ready_url"),
        port=entry.get("port"),
        ready_on_any_answer=bool(entry.get("ready_on_any_answer")),
    )


async def up(paths: Paths) -> int:
    """Run everything until interrupted."""
    paths.run.mkdir(parents=True, exist_ok=True)
    running = _running_state(paths)
    if running is not None:
        print(
            f"TrueUp is already running (supervisor pid {running['pid']}), gateway at "
            f"{running['gateway_url']}. Stop it with `./task down`.",
            file=sys.stderr,
        )
        return 1

    services = [(n, port_for(n, p)) for n, p in SERVICES]
    gateway_port = dict(services)["gateway"]
    simulators = [
        (name, module, port_for(name, port))
        for name, module, port in SIMULATORS
        if importlib.util.find_spec(module) is not None
    ]
    busy = [
        (name, port)
        for name, port in [*services, *[(s[0], s[2]) for s in simulators]]
        if not port_is_free(port)
    ]
    if busy:
        for name, port in busy:
            print(
                f"Port {port} for {name} is already in use (set {port_variable(name)}).",
                file=sys.stderr,
            )
        return 1

    wanted = int(os.environ.get("TRUEUP_NATS_PORT", "4222"))
    nats_port = wanted
    if not port_is_free(wanted):
        nats_port = free_port()
        print(
            f"Port {wanted} is taken by a NATS (or other) server TrueUp did not start; "
            f"starting TrueUp's own nats-server on port {nats_port} instead.",
            flush=True,
        )
    paths.logs.mkdir(parents=True, exist_ok=True)
    nats_server = EmbeddedNats(paths.nats_store, nats_port)
    nats_server.start(paths.nats_log)
    try:
        # Services start only once the broker answers: a service connecting earlier would
        # only meet refused connections.
        await nats_server.wait_ready(on_retry=lambda note: print(note, flush=True))
    except Exception as exc:
        nats_server.stop()
        print(f"nats-server did not start: {exc} (see {paths.nats_log})", file=sys.stderr)
        return 1

    credential_keys = demo_credential_keys(paths.root, legacy=paths.credentials)
    credentials = _demo_credentials(paths)
    base_env = {
        "TRUEUP_NATS_URL": nats_server.url,
        "TRUEUP_DATA_DIR": str(paths.data),
        "TRUEUP_ENVIRONMENT": "dev",
        # The simulators listen on loopback, which outbound calls refuse by default (SSRF).
        "TRUEUP_OUTBOUND_ALLOW": os.environ.get("TRUEUP_OUTBOUND_ALLOW", "127.0.0.0/8,::1"),
        "TRUEUP_DEMO_TENANT_ID": "demo",
        "TRUEUP_BOOTSTRAP_API_KEY": credentials["api_key"],
        "TRUEUP_CREDENTIAL_KEYS": os.environ.get("TRUEUP_CREDENTIAL_KEYS") or credential_keys,
        "TRUEUP_BOOTSTRAP_EMAIL": credentials["email"],
        "TRUEUP_BOOTSTRAP_PASSWORD": credentials["password"],
        "TRUEUP_JWT_SECRETS": _session_secrets(paths),
        "PYTHONUNBUFFERED": "1",
        **_simulator_settings(simulators),
    }
    for name, _port in services:
        result = subprocess.run(
            [sys.executable, "-m", f"trueup.{name}", "migrate"],
            env={**os.environ, **base_env, "TRUEUP_LOG_LEVEL": "WARNING"},
            check=False,
        )
        if result.returncode != 0:
            nats_server.stop()
            print(f"migrating {name} failed (exit {result.returncode})", file=sys.stderr)
            return 1

    specs = [
        ProcessSpec(
            name,
            [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
            ready_url=f"http://127.0.0.1:{port}/",
            port=port,
            ready_on_any_answer=True,
        )
        for name, module, port in simulators
    ]
    specs += [
        ProcessSpec(
            name,
            [sys.executable, "-m", f"trueup.{name}"],
            env={"TRUEUP_HTTP_PORT": str(port)},
            ready_url=f"http://127.0.0.1:{port}/readyz",
            port=port,
        )
        for name, port in services
    ]
    supervisor = Supervisor(specs, base_env=base_env, log_dir=paths.logs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    started_at = datetime.now(UTC)
    supervisor.start()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    state: dict[str, Any] = {
        "pid": os.getpid(),
        "gateway_url": gateway_url,
        "nats_url": nats_server.url,
        "nats_pid": nats_server.process.pid if nats_server.process else None,
        "processes": [_spec_state(spec) for spec in specs],
        "children": {},
    }
    _write_state(paths, state)

    async def ready_and_settled() -> dict[str, bool]:
        ready = await _wait_ready(specs, timeout=90)
        if all(ready.values()) and not await _settle(
            supervisor, gateway_url, credentials["api_key"], started_at, START_UP_WORK_SECONDS
        ):
            print(
                f"The demo's first sync and connector polls are still running after "
                f"{START_UP_WORK_SECONDS:.0f} s; their lines will follow the banner.",
                flush=True,
            )
        return ready

    ready_task = asyncio.create_task(ready_and_settled())
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({ready_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if ready_task in done:
        ready = ready_task.result()
        state["children"] = supervisor.pids()
        _write_state(paths, state)
        _banner(
            _banner_lines(
                specs,
                ready,
                nats_server.url,
                await jetstream_answers(nats_server.url),
                gateway_url,
                credentials,
                "Logs: ./task logs [name]. Again: ./task status. Stop: Ctrl-C or ./task down.",
            )
        )
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
            state["children"] = supervisor.pids()
            _write_state(paths, state)
    else:
        ready_task.cancel()

    print("Stopping TrueUp...", flush=True)
    await supervisor.stop()
    nats_server.stop()
    with contextlib.suppress(FileNotFoundError):
        paths.state.unlink()
    print("Stopped.", flush=True)
    return 0


def down(paths: Paths) -> int:
    """Stop a running stack (and any child a killed supervisor left behind)."""
    if not paths.state.exists():
        print("TrueUp is not running.")
        return 0
    state = json.loads(paths.state.read_text())
    pid = int(state.get("pid", 0))
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    leftovers = [*state.get("children", {}).values(), state.get("nats_pid")]
    for child in leftovers:
        if child and _pid_alive(int(child)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGTERM)
    with contextlib.suppress(FileNotFoundError):
        paths.state.unlink()
    print("TrueUp stopped.")
    return 0


def _stored_credentials(paths: Paths) -> dict[str, str] | None:
    """The demo login as `up` kept it (never generated here)."""
    try:
        stored = json.loads(paths.credentials.read_text())
    except (OSError, ValueError):
        return None
    if not all(stored.get(key) for key in ("email", "password", "api_key")):
        return None
    credentials = {key: str(stored[key]) for key in ("email", "password", "api_key")}
    if os.environ.get("TRUEUP_BOOTSTRAP_API_KEY"):
        credentials["api_key"] = os.environ["TRUEUP_BOOTSTRAP_API_KEY"]
    return credentials


async def status(paths: Paths) -> int:
    """What runs where, whether each answers, and the demo login: the banner, again."""
    state = _running_state(paths)
    if state is None:
        print("TrueUp is not running. Start it with `./task up`.")
        return 0
    specs = [_spec_from_state(entry) for entry in state.get("processes", [])]
    nats_url = str(state.get("nats_url") or "")
    async with httpx.AsyncClient(timeout=2.0) as client:
        answers = await asyncio.gather(*(_answers(client, spec) for spec in specs))
    # The broker as the services need it: connected, with JetStream answering.
    nats_ready = bool(nats_url) and await jetstream_answers(nats_url)
    ready = {spec.name: answer for spec, answer in zip(specs, answers, strict=True)}
    lines = _banner_lines(
        specs,
        ready,
        nats_url,
        nats_ready,
        str(state.get("gateway_url")),
        _stored_credentials(paths),
        f"Supervisor pid {state['pid']}. Logs: ./task logs [name] (kept in .data/logs).",
    )
    healthy = nats_ready and all(ready.values())
    lines[0] = "TrueUp is running" if healthy else "TrueUp is running, NOT all ready"
    _banner(lines)
    return 0 if healthy else 1


def _log_files(paths: Paths) -> dict[str, Path]:
    return {path.stem: path for path in sorted(paths.logs.glob("*.log"))}


def logs(paths: Paths, name: str | None, *, follow: bool = True, lines: int = 50) -> int:
    """Print the end of one process's log (or of all) and follow it until Ctrl-C."""
    files = _log_files(paths)
    if not files:
        print("No logs yet: `./task up` writes them to .data/logs/.")
        return 0
    if name is not None and name not in files:
        print(f"No log for {name!r}. Known: {', '.join(files)}.", file=sys.stderr)
        return 1
    chosen = {name: files[name]} if name is not None else files
    if name is None:
        print("Logs: " + ", ".join(files) + ". Follow one with `./task logs <name>`.")
    width = max(len(n) for n in chosen)

    def emit(source: str, text: str) -> None:
        prefix = "" if name is not None else f"{source:<{width}} | "
        sys.stdout.write(prefix + text)

    handles = {}
    for source, path in chosen.items():
        handle = path.open("r", encoding="utf-8", errors="replace")
        for text in handle.readlines()[-lines:]:
            emit(source, text)
        handles[source] = handle
    sys.stdout.flush()
    try:
        while follow:
            quiet = True
            for source, handle in handles.items():
                for text in iter(handle.readline, ""):
                    emit(source, text)
                    quiet = False
            sys.stdout.flush()
            if quiet:
                time.sleep(0.3)
    except KeyboardInterrupt:
        pass
    finally:
        for handle in handles.values():
            handle.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trueup.devstack.runtime")
    parser.add_argument("command", choices=["up", "down", "status", "logs"])
    parser.add_argument("name", nargs="?", help="logs: the process to follow (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--no-follow", action="store_true", help="logs: print and return")
    args = parser.parse_args(argv)
    paths = Paths(args.root.resolve())
    if args.command == "up":
        return asyncio.run(up(paths))
    if args.command == "status":
        return asyncio.run(status(paths))
    if args.command == "logs":
        return logs(paths, args.name, follow=not args.no_follow)
    return down(paths)


if __name__ == "__main__":
    sys.exit(main())
