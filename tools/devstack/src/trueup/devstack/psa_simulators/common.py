"""What every PSA simulator shares: fault injection, rate limiting, the write log,
the `/_simulator` control endpoints and the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_simulator"


class FaultConfig(BaseModel):
    """Faults a simulator injects. `*_rate` are probabilities per request; `*_next` count
    down one per request, so a test can ask for exactly N faults."""

    error_rate: float = Field(default=0.0, ge=0, le=1)
    slow_rate: float = Field(default=0.0, ge=0, le=1)
    slow_seconds: float = Field(default=0.0, ge=0)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    garbage_rate: float = Field(default=0.0, ge=0, le=1)
    fail_next: int = Field(default=0, ge=0)
    slow_next: int = Field(default=0, ge=0)
    drop_next: int = Field(default=0, ge=0)
    garbage_next: int = Field(default=0, ge=0)
    rate_limit_next: int = Field(default=0, ge=0)
    fail_writes_next: int = Field(default=0, ge=0, description="500 on the next N writes")
    rate_limit: int | None = Field(default=None, ge=1, description="requests per window")
    rate_window: float = Field(default=60.0, gt=0)
    retry_after: int = Field(default=1, ge=0, description="Retry-After for *_next 429s")


class SimulatorConfig(BaseModel):
    """How a simulator starts: which demo MSP it holds, its credentials and faults."""

    seed: int = 7
    accounts: int = 48
    line_items: int = 600
    today: date | None = None
    faults: FaultConfig = Field(default_factory=FaultConfig)


@dataclass(slots=True)
class WriteRecord:
    """One write the simulator accepted."""

    seq: int
    at: str
    method: str
    path: str
    entity: str
    entity_id: str
    body: Any


@dataclass(slots=True)
class SimulatorState:
    """Mutable state shared by a simulator's handlers and its fault middleware."""

    faults: FaultConfig
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    writes: list[WriteRecord] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    window_start: float = field(default_factory=time.monotonic)
    window_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_write(
        self, method: str, path: str, entity: str, entity_id: object, body: Any
    ) -> None:
        """Log an accepted write so tests can count and inspect it."""
        with self.lock:
            self.writes.append(
                WriteRecord(
                    seq=len(self.writes) + 1,
                    at=datetime.now(UTC).isoformat(),
                    method=method,
                    path=path,
                    entity=entity,
                    entity_id=str(entity_id),
                    body=body,
                )
            )

    def take(self, name: str) -> bool:
        """Consume one unit of a `*_next` counter, or roll its `*_rate` die."""
        with self.lock:
            left = getattr(self.faults, f"{name}_next")
            if left > 0:
                setattr(self.faults, f"{name}_next", left - 1)
                return True
            rate_name = {"fail": "error_rate"}.get(name, f"{name}_rate")
            rate: float = getattr(self.faults, rate_name, 0.0)
            return rate > 0 and self.rng.random() < rate

    def take_write_failure(self) -> bool:
        """Consume one unit of `fail_writes_next`."""
        with self.lock:
            if self.faults.fail_writes_next > 0:
                self.faults.fail_writes_next -= 1
                return True
            return False

    def rate_limited(self) -> int | None:
        """Seconds to wait when over the configured rate, else None."""
        with self.lock:
            if self.faults.rate_limit_next > 0:
                self.faults.rate_limit_next -= 1
                return self.faults.retry_after
            limit = self.faults.rate_limit
            if limit is None:
                return None
            now = time.monotonic()
            window = self.faults.rate_window
            if now - self.window_start >= window:
                self.window_start = now
                self.window_count = 0
            self.window_count += 1
            if self.window_count > limit:
                return max(1, math.ceil(window - (now - self.window_start)))
            return None


ErrorBody = Callable[[int, str], Any]


def _is_write(scope: Scope) -> bool:
    # Autotask reads through POST .../query; OAuth token requests are not writes either.
    path: str = scope["path"]
    if scope["method"] in ("GET", "HEAD", "OPTIONS"):
        return False
    return not (path.endswith(("/query", "/query/count")) or path.endswith("/token"))


class FaultMiddleware:
    """Raw ASGI middleware: rate limit, 500s, slow answers, dropped connections, garbage.

    A dropped connection is a response that promises a body and stops halfway: the
    server then closes the socket, as a PSA behind a failing proxy does.
    """

    def __init__(self, app: ASGIApp, state: SimulatorState, error_body: ErrorBody) -> None:
        self.app = app
        self.state = state
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        with state.lock:
            state.requests += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with state.lock:
                    state.statuses[message["status"]] += 1
            await send(message)

        wait = state.rate_limited()
        if wait is not None:
            body = self.error_body(429, "Too many requests: rate limit exceeded")
            response = JSONResponse(body, status_code=429, headers={"Retry-After": str(wait)})
            await response(scope, receive, counting_send)
            return
        if _is_write(scope) and state.take_write_failure():
            body = self.error_body(500, "An unexpected error occurred (injected write fault)")
            await JSONResponse(body, status_code=500)(scope, receive, counting_send)
            return
        if state.take("fail"):
            body = self.error_body(500, "An unexpected error occurred (injected fault)")
            await JSONResponse(body, status_code=500)(scope, receive, counting_send)
            return
        if state.take("slow"):
            await asyncio.sleep(state.faults.slow_seconds)
        if state.take("drop"):
            await counting_send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"items": [', "more_body": True})
            return
        if state.take("garbage"):
            html = b"<html><body><h1>502 Bad Gateway</h1>upstream hiccup</body></html>"
            await Response(html, status_code=200, media_type="text/html")(
                scope, receive, counting_send
            )
            return
        await self.app(scope, receive, counting_send)


EditHandler = Callable[[dict[str, Any]], Awaitable[Any] | Any]


def control_router(state: SimulatorState, edit: EditHandler) -> APIRouter:
    """`/_simulator/*`: read and set faults, read the write log, make out-of-band edits."""
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["simulator"])

    @router.get("/faults")
    async def get_faults() -> FaultConfig:
        return state.faults

    @router.put("/faults")
    async def put_faults(faults: FaultConfig) -> FaultConfig:
        with state.lock:
            state.faults = faults
            state.window_start = time.monotonic()
            state.window_count = 0
        return state.faults

    @router.get("/writes")
    async def get_writes() -> list[dict[str, Any]]:
        with state.lock:
            return [
                {
                    "seq": w.seq,
                    "at": w.at,
                    "method": w.method,
                    "path": w.path,
                    "entity": w.entity,
                    "entity_id": w.entity_id,
                    "body": w.body,
                }
                for w in state.writes
            ]

    @router.delete("/writes", status_code=204)
    async def clear_writes() -> None:
        with state.lock:
            state.writes.clear()

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        with state.lock:
            return {
                "requests": state.requests,
                "statuses": {str(k): v for k, v in sorted(state.statuses.items())},
                "writes": len(state.writes),
            }

    @router.post("/edit")
    async def post_edit(request: Request) -> Any:
        """Change a record behind the client's back: {"line_item_id", "field", "value"}."""
        body = await request.json()
        result = edit(body)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    return router


def install(app: FastAPI, state: SimulatorState, error_body: ErrorBody, edit: EditHandler) -> None:
    """Add the control endpoints and the fault middleware to a simulator app."""
    app.include_router(control_router(state, edit))
    app.add_middleware(FaultMiddleware, state=state, error_body=error_body)


def to_number(value: Decimal) -> int | float:
    """A Decimal as the JSON number a PSA would send (the wire carries floats)."""
    return int(value) if value == value.to_integral_value() else float(value)


def iso(value: date | datetime | None) -> str | None:
    """A PSA-style UTC timestamp: `2024-06-15T00:00:00Z`."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{value.isoformat()}T00:00:00Z"


def parse_iso(value: str) -> datetime:
    """Parse a PSA timestamp (`Z` or offset; naive is UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_response(
    payload: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A compact JSON response (fast path for large pages)."""
    return Response(
        json.dumps(payload, separators=(",", ":")),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def run_cli(name: str, default_port: int, factory: Callable[[SimulatorConfig], FastAPI]) -> None:
    """Command line shared by the simulators' `python -m` entry points."""
    parser = argparse.ArgumentParser(prog=f"python -m trueup.devstack.psa_simulators.{name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=48)
    parser.add_argument("--line-items", type=int, default=600)
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the day the demo MSP's dates are relative to (default: today, UTC)",
    )
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--slow-rate", type=float, default=0.0)
    parser.add_argument("--slow-seconds", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window")
    parser.add_argument("--rate-window", type=float, default=60.0)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    config = SimulatorConfig(
        seed=args.seed,
        accounts=args.accounts,
        line_items=args.line_items,
        today=args.today,
        faults=FaultConfig(
            error_rate=args.error_rate,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            drop_rate=args.drop_rate,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
        ),
    )
    uvicorn.run(factory(config), host=args.host, port=args.port, log_level=args.log_level)
