"""Edges every request passes: correlation id, size limits, rate limits, security headers.

Pure ASGI middleware, so a streamed upload is counted as it arrives and never buffered.
Every answer, the problems this middleware writes itself included, carries the security
headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trueup.contracts import new_id
from trueup.gateway.problems import PROBLEM_JSON, Problem
from trueup.platform.database import database_unreachable
from trueup.platform.logging import bound_context, get_logger
from trueup.platform.tracing import tracer

log = get_logger(__name__)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def _too_large(limit: int, path: str) -> Problem:
    return Problem(
        title="Content Too Large",
        status=413,
        detail=f"The request body is larger than the limit of {limit} bytes.",
        instance=path,
    )


async def _send_problem(send: Send, problem: Problem, headers: list[tuple[bytes, bytes]]) -> None:
    body = problem.model_dump_json(exclude_none=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLargeError(HTTPException):
    # An HTTPException, so that FastAPI's body parsing lets it through (it turns any other
    # error while reading the body into a 400) and the app renders it as a 413 problem.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


RateKey = Callable[[Scope], Awaitable[str]]
"""Whose budget a request spends (the authenticated principal, else the client address)."""


async def _by_address(scope: Scope) -> str:
    client = scope.get("client") or ("unknown", 0)
    return f"address:{client[0]}"


class EdgeMiddleware:
    """Correlation id, request size limit, per-principal rate limit, security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_request_bytes: int,
        max_upload_bytes: int,
        upload_paths: tuple[str, ...],
        rate_per_minute: int,
        rate_key: RateKey = _by_address,
    ) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_paths = upload_paths
        # A sliding-window counter is O(1) per hit; a moving window keeps every timestamp.
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.rate = RateLimitItemPerMinute(rate_per_minute)
        self.rate_key = rate_key

    async def _rate_key(self, scope: Scope) -> str:
        try:
            return await self.rate_key(scope)
        except Exception as exc:
            # Finding the principal may need the database; if that fails, the request is
            # still counted (by address) and the route gives the real error.
            if database_unreachable(exc):
                log.warning("rate limit key: the database is unreachable; counting by address")
            else:
                log.exception("rate limit key failed; counting by address")
            return await _by_address(scope)

    def _limit_for(self, path: str) -> int:
        if any(path.startswith(p) for p in self.upload_paths):
            return self.max_upload_bytes
        return self.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        correlation_id = (headers.get(b"x-correlation-id") or b"").decode()[:64] or new_id()
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        extra = [(b"x-correlation-id", correlation_id.encode())]
        path: str = scope.get("path", "")

        if path.startswith("/api/") and not await self.limiter.hit(
            self.rate, await self._rate_key(scope)
        ):
            await _send_problem(
                send,
                Problem(
                    title="Too Many Requests",
                    status=429,
                    detail=f"More than {self.rate.amount} requests a minute; slow down.",
                    instance=path,
                ),
                [*extra, (b"retry-after", b"10")],
            )
            return

        limit = self._limit_for(path)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(send, _too_large(limit, path), extra)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLargeError(limit)
            return message

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS, *extra]
            await send(message)

        # A server span, continuing the caller's trace if it sent a `traceparent`: the
        # broker's telemetry carries it on to every service the request reaches.
        parent = propagate.extract(
            {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()}
        )
        span_name = f"{scope.get('method', 'GET')} {path}"
        with (
            bound_context(correlation_id=correlation_id),
            tracer().start_as_current_span(span_name, context=parent, kind=SpanKind.SERVER),
        ):
            try:
                await self.app(scope, counting_receive, send_with_headers)
                _forget_pages_after_write(scope)
            except _TooLargeError:
                if not started:
                    await _send_problem(send, _too_large(limit, path), extra)
            except Exception as exc:
                if database_unreachable(exc) and not started:
                    # The gateway's database restarts (or fails over): nothing was done,
                    # and the same request in a moment will be answered.
                    log.warning(
                        "request refused: the database is unreachable",
                        path=path,
                        error=type(exc).__name__,
                    )
                    await _send_problem(
                        send,
                        Problem(
                            title="Service Unavailable",
                            status=503,
                            detail="The database is unreachable for the moment; nothing was "
                            "changed. Try again shortly.",
                            instance=path,
                        ),
                        [*extra, (b"retry-after", b"2")],
                    )
                    return
                # Starlette's last-resort 500 is written outside this middleware, without
                # the security headers: answer here, and let the error go on to be logged.
                if not started:
                    await _send_problem(
                        send,
                        Problem(title="Internal Server Error", status=500, instance=path),
                        extra,
                    )
                raise


def _forget_pages_after_write(scope: Scope) -> None:
    # A write through this replica may change cards; its own cached pages go at once
    # rather than when the change event comes back over NATS.
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return
    principal = scope.get("state", {}).get("principal")
    pages = getattr(getattr(scope.get("app"), "state", None), "pages", None)
    if principal is not None and pages is not None:
        pages.invalidate(principal.tenant_id)
