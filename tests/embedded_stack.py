"""The whole system as `./task up` runs it, started from a test.

One way for every suite that needs the real processes (the browser tests, the first-run
checks): the embedded runtime under a root of the test's choosing, its console written
to a file, ready when the test's probe says so, stopped as Ctrl-C stops it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest


def runtime_command(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m trueup.devstack.runtime <args> --root <root>` (status, logs, down)."""
    return subprocess.run(
        [sys.executable, "-m", "trueup.devstack.runtime", *args, "--root", str(root)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _tail(console: Path, lines: int = 60) -> str:
    text = console.read_text(errors="replace") if console.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def embedded_stack(
    root: Path,
    *,
    console: Path,
    ready: Callable[[], bool],
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `runtime up --root root` until the block ends; fail the test, with the end of
    the console, when it exits or `ready()` is still false after `timeout` seconds."""
    console.parent.mkdir(parents=True, exist_ok=True)
    with console.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "trueup.devstack.runtime", "up", "--root", str(root)],
            cwd=root,
            env=dict(env) if env is not None else None,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if process.poll() is not None:
                    pytest.fail(f"the runtime exited ({process.returncode}):\n{_tail(console)}")
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the stack was not ready within {timeout:.0f} s:\n{_tail(console)}"
                    )
                time.sleep(0.5)
            yield process
        finally:
            # Ctrl-C: the supervisor stops every child (they drain), then exits.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
