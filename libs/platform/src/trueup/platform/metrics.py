"""Prometheus metrics shared by every service (served at `/metrics`)."""

from __future__ import annotations

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
