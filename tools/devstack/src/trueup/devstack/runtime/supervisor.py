"""A small process supervisor: one child per service, prefixed logs, restart on crash.

Every line a child prints goes to the console with the child's name in front and, when
a log folder is given, to `<folder>/<name>.log` as printed (`./task logs <name>`), after
a `— started at <UTC time> —` line that marks where this run begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

_COLOURS = ["36", "32", "33", "35", "34", "31", "96", "92", "93", "95", "94"]


def start_marker() -> str:
    """The line that opens one run's part of a log file: every `up` appends to the same
    files, and without it one run's lines would run on into the next's."""
    return f"— started at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC —\n"


@dataclass
class ProcessSpec:
    """How to run one child process."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    port: int | None = None
    ready_on_any_answer: bool = False
    """Simulators have no /readyz: any HTTP answer below 500 means up."""


@dataclass
class _Child:
    spec: ProcessSpec
    colour: str
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0


class Supervisor:
    """Starts children, prefixes their output, restarts the ones that die, stops them all."""

    def __init__(
        self,
        specs: list[ProcessSpec],
        *,
        base_env: dict[str, str],
        log_dir: Path | None = None,
    ) -> None:
        self.children = [_Child(spec, _COLOURS[i % len(_COLOURS)]) for i, spec in enumerate(specs)]
        self.base_env = base_env
        self.log_dir = log_dir
        self._log_files: dict[str, IO[str]] = {}
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._width = max((len(s.name) for s in specs), default=8)
        self.last_line_at = time.monotonic()
        """When a child last printed a line (`up` waits for a quiet console)."""

    def log_path(self, name: str) -> Path | None:
        """Where a child's output is kept (None without a log folder)."""
        return self.log_dir / f"{name}.log" if self.log_dir is not None else None

    def _log_file(self, name: str) -> IO[str] | None:
        path = self.log_path(name)
        if path is None:
            return None
        if name not in self._log_files:
            path.parent.mkdir(parents=True, exist_ok=True)
            log_file = path.open("a", encoding="utf-8", buffering=1)
            log_file.write(start_marker())
            self._log_files[name] = log_file
        return self._log_files[name]

    def say(self, name: str, line: str, colour: str = "0") -> None:
        """Print one line with the child's prefix (and keep it in the child's log file)."""
        self.last_line_at = time.monotonic()
        log_file = self._log_file(name)
        if log_file is not None:
            log_file.write(line + "\n")
        prefix = f"{name:<{self._width}} |"
        if sys.stdout.isatty():
            prefix = f"\033[{colour}m{prefix}\033[0m"
        sys.stdout.write(f"{prefix} {line}\n")
        sys.stdout.flush()

    def pids(self) -> dict[str, int]:
        """The pid of every running child."""
        return {
            c.spec.name: c.process.pid
            for c in self.children
            if c.process is not None and c.process.returncode is None
        }

    async def _spawn(self, child: _Child) -> None:
        self._log_file(child.spec.name)  # every child has a log to follow, quiet or not
        env = {**os.environ, **self.base_env, **child.spec.env}
        child.process = await asyncio.create_subprocess_exec(
            *child.spec.argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        child.started_at = time.monotonic()

    async def _pump(self, child: _Child) -> None:
        assert child.process is not None
        assert child.process.stdout is not None
        async for raw in child.process.stdout:
            self.say(child.spec.name, raw.decode(errors="replace").rstrip(), child.colour)

    async def _watch(self, child: _Child) -> None:
        while not self.stopping:
            await self._spawn(child)
            await self._pump(child)
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping:
                return
            # A child that ran a while before dying starts afresh; one crashing in a loop
            # backs off so its logs stay readable.
            if time.monotonic() - child.started_at > 60:
                child.restarts = 0
            child.restarts += 1
            delay = min(2 ** (child.restarts - 1), 15)
            self.say(
                child.spec.name,
                f"exited with code {code}; restarting in {delay}s (restart #{child.restarts})",
                "31",
            )
            await asyncio.sleep(delay)

    def start(self) -> None:
        """Start every child and its watcher."""
        self._tasks = [
            asyncio.create_task(self._watch(c), name=f"watch-{c.spec.name}") for c in self.children
        ]

    async def stop(self, timeout: float = 25.0) -> None:
        """SIGTERM every child (they drain in-flight work), SIGKILL what is left."""
        self.stopping = True
        for child in self.children:
            if child.process is not None and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.process is None:
                continue
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.wait_for(child.process.wait(), remaining)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for log_file in self._log_files.values():
            log_file.close()
        self._log_files.clear()
