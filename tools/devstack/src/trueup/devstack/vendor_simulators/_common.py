"""What the vendor simulators share: rate limiting with Retry-After, and a CLI runner."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Awaitable, Callable, Sequence

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


class RateLimiter:
    """A fixed-window request counter: over `limit` requests per window answers 429."""

    def __init__(
        self,
        limit: int | None,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._window_start = clock()
        self._count = 0
        self.refused = 0

    def retry_after(self) -> int | None:
        """None to let a request through, else the whole seconds until the window resets."""
        if self.limit is None:
            return None
        now = self._clock()
        if now - self._window_start >= self.window_seconds:
            self._window_start, self._count = now, 0
        if self._count < self.limit:
            self._count += 1
            return None
        self.refused += 1
        return max(1, math.ceil(self._window_start + self.window_seconds - now))


def add_rate_limit(app: FastAPI, limiter: RateLimiter) -> None:
    """Answer 429 with Retry-After once the limiter's window is full."""

    @app.middleware("http")
    async def limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        retry_after = limiter.retry_after()
        if retry_after is not None:
            return JSONResponse(
                {"error": "rate_limited", "message": "Too many requests"},
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
        return await call_next(request)

    app.state.rate_limiter = limiter


def serve(
    name: str,
    factory: Callable[..., FastAPI],
    default_port: int,
    argv: Sequence[str] | None = None,
) -> None:
    """Run a simulator from the command line: `--host`, `--port`, `--rate-limit`."""
    parser = argparse.ArgumentParser(description=f"{name} API simulator with demo data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="requests per --rate-window (default: none)"
    )
    parser.add_argument("--rate-window", type=float, default=60.0, help="seconds")
    # Warnings only by default: one access line per request drowns the runtime's console.
    parser.add_argument("--log-level", default="warning")
    arguments = parser.parse_args(argv)
    app = factory(rate_limit=arguments.rate_limit, rate_window=arguments.rate_window)
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level=arguments.log_level)
