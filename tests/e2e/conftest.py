"""Browser tests: Debian's chromium driven by Playwright, against the whole running stack.

The stack's ports are fixed, so the tests use a stack that already answers on the
gateway port, or start one with `python -m trueup.devstack.runtime up` in the repository
and stop it at the end. The web UI is built first when its output is missing or older
than its sources.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.support import (
    ARTIFACTS,
    BASE_URL,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    STARTUP_SECONDS,
    Stack,
    build_web_ui,
    healthy,
    sign_in,
    wait_for_demo_data,
)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The running TrueUp (started here if nothing answers) and its demo credentials."""
    build_web_ui()
    started: subprocess.Popen[bytes] | None = None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / "stack.log").open("wb")
    if not healthy(BASE_URL):
        started = subprocess.Popen(
            [sys.executable, "-m", "trueup.devstack.runtime", "up", "--root", str(ROOT)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not healthy(BASE_URL):
            if started.poll() is not None:
                pytest.fail(f"the stack exited with {started.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                started.terminate()
                pytest.fail(f"the stack did not answer within {STARTUP_SECONDS} s")
            time.sleep(1)
    credentials = json.loads((ROOT / ".data" / "demo-credentials.json").read_text())
    running = Stack(
        base_url=BASE_URL,
        email=credentials["email"],
        password=credentials["password"],
        api_key=credentials["api_key"],
        started_here=started is not None,
    )
    wait_for_demo_data(running, deadline=time.monotonic() + STARTUP_SECONDS)
    yield running
    if started is not None:
        subprocess.run(
            [sys.executable, "-m", "trueup.devstack.runtime", "down", "--root", str(ROOT)],
            cwd=ROOT,
            check=False,
            timeout=60,
        )
        try:
            started.wait(timeout=60)
        except subprocess.TimeoutExpired:
            started.kill()
    log.close()


# pytest-playwright: Debian's chromium, headless; nothing is downloaded.


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": {"width": 1280, "height": 860},
        "base_url": BASE_URL,
        "locale": "en-US",
        "timezone_id": "UTC",
    }


@pytest.fixture
def page(page: Any, stack: Stack) -> Any:
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(30_000)
    return page


@pytest.fixture
def signed_in(page: Any, stack: Stack) -> Any:
    """A page signed in as the demo admin, on the card view."""
    sign_in(page, stack)
    return page
