"""Browser tests' support: the stack, screenshots, sign-in, endpoint checks and axe-core.

Screenshots go to `test-artifacts/e2e/` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "services" / "gateway" / "web"
STATIC = ROOT / "services" / "gateway" / "src" / "trueup" / "gateway" / "static"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
BASE_URL = os.environ.get("TRUEUP_E2E_BASE_URL", "http://127.0.0.1:8000")
CHROMIUM = os.environ.get("TRUEUP_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STARTUP_SECONDS = 240


@dataclass(frozen=True)
class Stack:
    base_url: str
    email: str
    password: str
    api_key: str
    started_here: bool

    def api(self) -> httpx.Client:
        """An API client with the demo key, to set up and check what the browser did."""
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
            transport=_WaitsOutRateLimit(),
        )


class _WaitsOutRateLimit(httpx.HTTPTransport):
    """Waits out the gateway's per-key rate limit: a fuzzing run spends the demo key's
    minute, and the set-up or clean-up call that follows must still get its answer."""

    ATTEMPTS = 8

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(self.ATTEMPTS - 1):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.read()
            response.close()
            time.sleep(min(float(response.headers.get("retry-after", "5")), 15.0))
        return super().handle_request(request)


def healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def wait_for_demo_data(stack: Stack, deadline: float) -> None:
    """Wait until the first PSA sync has made cards (a fresh stack needs a minute)."""
    with stack.api() as client:
        while time.monotonic() < deadline:
            try:
                answer = client.get("/api/v1/cards", params={"limit": 1})
                if answer.status_code == 200 and answer.json()["items"]:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)


def build_web_ui() -> None:
    """`npm ci` and `npm run build` when the built files are missing or stale."""
    index = STATIC / "index.html"
    sources = [WEB / "src", WEB / "index.html", WEB / "package-lock.json", WEB / "vite.config.ts"]
    newest = max(
        (_newest_mtime(s) if s.is_dir() else s.stat().st_mtime) for s in sources if s.exists()
    )
    if index.exists() and index.stat().st_mtime >= newest:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to build the web UI for the browser tests")
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot as a test artifact (git-ignored) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(
    page: Any,
    stack: Stack,
    email: str | None = None,
    password: str | None = None,
    *,
    reset: bool = True,
) -> None:
    """Sign in through the login form (as the demo admin unless told) and wait for the cards.

    `reset` forgets the user's saved list view first, so that a test starts from the default.
    """
    page.goto("/")
    page.get_by_label("Email").fill(email or stack.email)
    page.get_by_label("Password").fill(password or stack.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").wait_for()
    if reset:
        reset_saved_views(page)


def reset_saved_views(page: Any) -> None:
    """Forget the signed-in user's saved list view: tests start from the default.

    The view is kept on the server per user, so what one test grouped or filtered would
    otherwise greet the next.
    """
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "trueup_csrf")
    answer = page.request.delete("/api/v1/me/preferences/list-view", headers={"X-CSRF-Token": csrf})
    assert answer.status == 204, answer.text()


def leave_page(page: Any) -> None:
    """What leaving the page does: every write still in its undo window is sent now.

    Lets a test see a deferred write go out without waiting the window out.
    """
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")


_openapi_paths: dict[str, set[str]] | None = None


def _available(stack: Stack) -> dict[str, set[str]]:
    global _openapi_paths
    if _openapi_paths is None:
        schema = httpx.get(f"{stack.base_url}/openapi.json", timeout=10).json()
        _openapi_paths = {
            _template(path): {method.upper() for method in operations}
            for path, operations in schema.get("paths", {}).items()
        }
    return _openapi_paths


def _template(path: str) -> str:
    """A path with its parameters unnamed: `/cards/{card_id}` and `/cards/{id}` match."""
    return re.sub(r"\{[^}]*\}", "{}", path)


F = TypeVar("F", bound=Callable[..., Any])


def requires(*endpoints: str) -> Callable[[F], F]:
    """Mark a test xfail (not strict) naming the endpoints the gateway does not serve yet.

    Each endpoint is "METHOD /path" as in the OpenAPI schema. Once they all exist the test
    runs for real and fails like any other test.
    """

    def decorate(test: F) -> F:
        @wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            stack_ = kwargs.get("stack")
            if stack_ is None:
                raise TypeError("a test using @requires must take the `stack` fixture")
            paths = _available(stack_)
            missing = []
            for endpoint in endpoints:
                method, path = endpoint.split(" ", 1)
                if method not in paths.get(_template(path), set()):
                    missing.append(endpoint)
            if missing:
                pytest.xfail(f"the gateway does not serve {', '.join(missing)} yet")
            return test(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def serious_accessibility_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the current page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response.get("violations", [])
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
        if v.get("impact") in {"serious", "critical"}
    ]


def pending_cards(stack: Stack, kind: str = "reconcile", limit: int = 200) -> list[dict[str, Any]]:
    """Pending cards of one kind, as the card view lists them."""
    with stack.api() as client:
        answer = client.get(
            "/api/v1/cards", params={"state": "pending", "kind": kind, "limit": limit}
        )
        answer.raise_for_status()
        return [card for card in answer.json()["items"] if card["kind"] == kind]


def cards_or_xfail(stack: Stack, kind: str = "reconcile", count: int = 1) -> list[dict[str, Any]]:
    """At least `count` pending cards of a kind; xfail (naming why) when the demo has fewer.

    The demo MSP gets its differences from the vendor simulators through the whole
    pipeline; until reconciliation turns that usage into cards there is nothing to act on.
    """
    if kind == "reconcile":
        arrange_reconcile_cards(stack)
    cards = pending_cards(stack, kind)
    if len(cards) < count:
        restore_dismissed_cards(stack, kind, count - len(cards))
        cards = pending_cards(stack, kind)
    if len(cards) < count and kind == "reconcile":
        # The tests before this one approved what there was: map more of the demo's usage.
        arrange_reconcile_cards(stack, wanted=count + 2)
        cards = pending_cards(stack, kind)
    if len(cards) < count:
        pytest.xfail(
            f"the demo MSP has {len(cards)} pending {kind} card(s), {count} needed: "
            "vendor usage is not reconciled into cards by the stack yet"
        )
    return cards


def reconcile_card_where(
    stack: Stack, wanted: Callable[[dict[str, Any]], bool], missing: str
) -> dict[str, Any]:
    """A pending reconcile card for which `wanted` holds, mapping more of the demo's usage
    while none does; xfail saying `missing` once the demo can give no more."""
    while True:
        cards = cards_or_xfail(stack)
        found = next((card for card in cards if wanted(card)), None)
        if found is not None:
            return found
        if arrange_reconcile_cards(stack, wanted=len(cards) + 3) <= len(cards):
            pytest.xfail(missing)


_exhausted: list[bool] = []


def restore_dismissed_cards(stack: Stack, kind: str, wanted: int) -> int:
    """Restore up to `wanted` cards of a kind that earlier tests dismissed, through the
    public API (what Restore does in the UI): every test that dismisses uses up the demo's
    differences, and the tests after it still need some. Returns how many were restored."""
    restored = 0
    with stack.api() as client:
        answer = client.get(
            "/api/v1/cards",
            params={"state": "dismissed", "kind": kind, "include_hidden": "true", "limit": 200},
        )
        answer.raise_for_status()
        for card in answer.json()["items"]:
            if restored >= wanted:
                break
            if card["kind"] != kind or card["state"] != "dismissed":
                continue
            if client.post(f"/api/v1/cards/{card['card_id']}/restore").status_code == 202:
                restored += 1
    deadline = time.monotonic() + 15
    while restored and time.monotonic() < deadline:
        if len(pending_cards(stack, kind)) >= restored:
            break
        time.sleep(0.3)
    return restored


def arrange_reconcile_cards(stack: Stack, wanted: int = 6, seconds: float = 45) -> int:
    """Map unmapped vendor accounts, through the public API, to PSA accounts that bill the
    service line of their usage, until `wanted` pending reconcile cards exist.

    The demo's vendor simulators and PSA simulator do not share client names, so nothing
    maps itself; a person would map these by hand on the Mapping screen. Tests that
    approve use the cards up, so a later test may call this again for more; each call maps
    only what is missing, which leaves the rest of the unmapped queue to the mapping tests.
    Returns the number of pending reconcile cards.
    """
    have = len(pending_cards(stack))
    if have >= wanted or _exhausted:
        return have
    with stack.api() as client:
        paths = _available(stack)
        if "GET" not in paths.get("/api/v1/usage", set()) or "POST" not in paths.get(
            "/api/v1/mappings/accounts", set()
        ):
            return have
        unmapped = client.get("/api/v1/mappings/accounts", params={"status": "unmapped"})
        unmapped.raise_for_status()
        open_accounts = {(m["vendor"], m["vendor_account_id"]) for m in unmapped.json()["items"]}
        services = client.get("/api/v1/mappings/services")
        services.raise_for_status()
        line_of = {
            (m["vendor"], m["sku"]): m["service_line_id"]
            for m in services.json()["items"]
            if m["service_line_id"] and not m["excluded"]
        }
        lines = client.get("/api/v1/cards", params={"include_hidden": "true", "limit": 1000})
        lines.raise_for_status()
        accounts_by_line: dict[str, list[str]] = {}
        for card in lines.json()["items"]:
            # A line billed today with no usage yet: mapping usage to it makes a difference.
            if card["kind"] == "no_change" and card["state"] == "pending" and card["account_id"]:
                accounts_by_line.setdefault(card["service_line_id"], []).append(card["account_id"])
        usage = client.get("/api/v1/usage", params={"limit": 5000})
        usage.raise_for_status()
        taken: set[str] = set()
        items = []
        for record in usage.json()["items"]:
            key = (record["vendor"], record["vendor_account_id"])
            line = line_of.get((record["vendor"], record["sku"]))
            if key not in open_accounts or line is None:
                continue
            free = [a for a in accounts_by_line.get(line, []) if a not in taken]
            if not free:
                continue
            taken.add(free[0])
            open_accounts.discard(key)
            items.append(
                {
                    "vendor": key[0],
                    "vendor_account_id": key[1],
                    "action": "map",
                    "account_id": free[0],
                }
            )
            if len(items) >= wanted - have:
                break
        if not items:
            # A demo that could not give more cards will not on a second try either.
            _exhausted.append(True)
            return have
        client.post("/api/v1/mappings/accounts", json={"items": items}).raise_for_status()
    deadline = time.monotonic() + seconds
    while len(pending_cards(stack)) < have + 1 and time.monotonic() < deadline:
        time.sleep(1)
    return len(pending_cards(stack))


def new_revenue_pairing(stack: Stack) -> dict[str, str] | None:
    """An unmapped vendor account and a PSA account that bills none of its usage's service
    lines: mapping the one to the other leaves a New Revenue card."""
    with stack.api() as client:
        unmapped = client.get("/api/v1/mappings/accounts", params={"status": "unmapped"})
        unmapped.raise_for_status()
        names = {(m["vendor"], m["vendor_account_id"]): m for m in unmapped.json()["items"]}
        services = client.get("/api/v1/mappings/services")
        services.raise_for_status()
        line_of = {
            (m["vendor"], m["sku"]): m["service_line_id"]
            for m in services.json()["items"]
            if m["service_line_id"] and not m["excluded"]
        }
        cards = client.get("/api/v1/cards", params={"include_hidden": "true", "limit": 1000})
        cards.raise_for_status()
        lines_of_account: dict[str, set[str]] = {}
        account_names: dict[str, str] = {}
        for card in cards.json()["items"]:
            if card.get("account_id"):
                # A New Revenue card already made for a line (added by an earlier run, and
                # hidden since) counts: mapping more usage to it would make no new card.
                lines_of_account.setdefault(card["account_id"], set()).add(card["service_line_id"])
                account_names[card["account_id"]] = card["account_name"]
        usage = client.get("/api/v1/usage", params={"limit": 5000})
        usage.raise_for_status()
        for record in usage.json()["items"]:
            key = (record["vendor"], record["vendor_account_id"])
            line = line_of.get((record["vendor"], record["sku"]))
            if key not in names or line is None:
                continue
            for account_id, lines in sorted(lines_of_account.items()):
                if line not in lines:
                    return {
                        "vendor": key[0],
                        "vendor_account_id": key[1],
                        "vendor_account_name": names[key]["vendor_account_name"],
                        "account_id": account_id,
                        "account_name": account_names[account_id],
                    }
    return None


def card_state(stack: Stack, card_id: str) -> str | None:
    """The state of one card, hidden (actioned) cards included."""
    with stack.api() as client:
        cursor = None
        while True:
            params: dict[str, Any] = {"include_hidden": "true", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            answer = client.get("/api/v1/cards", params=params)
            answer.raise_for_status()
            page = answer.json()
            for card in page["items"]:
                if card["card_id"] == card_id:
                    return str(card["state"])
            cursor = page.get("next_cursor")
            if not cursor:
                return None


def card_locator(page: Any, card: dict[str, Any]) -> Any:
    """The card element of the card view for one card."""
    return page.locator(f'article[data-card-id="{card["card_id"]}"]')


def find_card(page: Any, card: dict[str, Any]) -> Any:
    """Search the card view for one card's account (long groups show their first cards)."""
    page.get_by_label("Search cards").fill(card["account_name"])
    element = card_locator(page, card)
    element.wait_for()
    return element


def operator_cli(*args: str) -> Any:
    """Run `python -m trueup.gateway.operator tenants …` against the stack's gateway
    database, as an operator would, and return its `--json` answer."""
    env = {
        **os.environ,
        "TRUEUP_DATA_DIR": str(ROOT / ".data"),
        "TRUEUP_LOG_LEVEL": "WARNING",
    }
    env.pop("TRUEUP_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "trueup.gateway.operator", "tenants", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)
