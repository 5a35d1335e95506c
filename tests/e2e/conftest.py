"""Browser tests: Debian's chromium driven by Playwright, against the whole running stack.

The stack's ports are fixed, so the tests use a stack that already answers on the
gateway port, or start one in the repository as `./task up` does (`tests/embedded_stack.py`)
and stop it at the end. The web UI is built first when its output is missing or older
than its sources.
"""

from __future__ import annotations

import contextlib
import json
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
from tests.embedded_stack import embedded_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The running TrueUp (started here if nothing answers) and its demo credentials."""
    build_web_ui()
    already_running = healthy(BASE_URL)
    with contextlib.ExitStack() as stop_at_the_end:
        if not already_running:
            stop_at_the_end.enter_context(
                embedded_stack(
                    ROOT,
                    console=ARTIFACTS / "stack.log",
                    ready=lambda: healthy(BASE_URL),
                    timeout=STARTUP_SECONDS,
                )
            )
        credentials = json.loads((ROOT / ".data" / "demo-credentials.json").read_text())
        running = Stack(
            base_url=BASE_URL,
            email=credentials["email"],
            password=credentials["password"],
            api_key=credentials["api_key"],
            started_here=not already_running,
        )
        wait_for_demo_data(running, deadline=time.monotonic() + STARTUP_SECONDS)
        yield running


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
