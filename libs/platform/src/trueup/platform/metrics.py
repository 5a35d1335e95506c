"""Prometheus metrics shared by every service (served at `/metrics`)."""

from __future__ import annotations

import time

import httpx
from prometheus_client import Counter, Gauge, Histogram

HANDLER_SECONDS = Histogram(
    "trueup_handler_seconds",
    "Time spent handling one message.",
    ["service", "subject"],
)
CONSUMER_LAG = Gauge(
    "trueup_consumer_lag",
    "Messages in the stream not yet delivered to the consumer.",
    ["stream", "consumer"],
)
OUTBOX_PENDING = Gauge("trueup_outbox_pending", "Outbox rows not yet published.", ["service"])
IMPORT_ROWS = Counter("trueup_import_rows_total", "CSV rows imported.", ["tenant"])
WRITEBACK_OUTCOMES = Counter(
    "trueup_writeback_outcomes_total", "Writeback job outcomes.", ["outcome", "psa"]
)
PSA_REQUEST_SECONDS = Histogram(
    "trueup_psa_request_seconds", "PSA API request latency.", ["psa", "endpoint"]
)
PSA_RATE_LIMITED = Counter(
    "trueup_psa_rate_limited_total", "PSA answers of 429 Too Many Requests.", ["psa"]
)


class MeteredTransport(httpx.AsyncBaseTransport):
    """An httpx transport that records PSA API latency and 429s, around the real one."""

    def __init__(self, psa: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.psa = psa
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        finally:
            # The path without ids keeps the label set small (…/agreements/{id}/additions).
            endpoint = "/".join(
                "{id}" if part.isdigit() else part for part in request.url.path.split("/")
            )
            PSA_REQUEST_SECONDS.labels(psa=self.psa, endpoint=endpoint).observe(
                time.perf_counter() - started
            )
        if response.status_code == 429:
            PSA_RATE_LIMITED.labels(psa=self.psa).inc()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
