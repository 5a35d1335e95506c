"""JetStream stream definitions, provisioned idempotently by every service at start."""

from __future__ import annotations

from dataclasses import dataclass

# Publishers set Nats-Msg-Id; the stream drops a repeat inside this window. Longer-lived
# idempotency (usage record ids, writeback keys) lives in the services' databases.
DUPLICATE_WINDOW_SECONDS = 2 * 60 * 60
DAY = 24 * 60 * 60


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One JetStream stream: its name, the subjects it captures and how long it keeps them."""

    name: str
    subjects: tuple[str, ...]
    description: str
    max_age_seconds: int = 7 * DAY
    duplicate_window_seconds: int = DUPLICATE_WINDOW_SECONDS


PSA = StreamSpec("PSA", ("psa.>",), "PSA snapshots and sync results (psa_sync).")
USAGE = StreamSpec("USAGE", ("usage.>",), "Vendor usage reported by imports, webhooks, connectors.")
INGEST = StreamSpec("INGEST", ("ingest.>",), "Import lifecycle events (vendor_ingestion).")
RECON = StreamSpec("RECON", ("recon.>",), "Card, action and mapping changes (reconciliation).")
WRITEBACK = StreamSpec("WRITEBACK", ("writeback.>",), "Writeback outcomes (writeback).")
TENANT = StreamSpec("TENANT", ("tenant.>",), "Tenant settings, suspension and deletion (gateway).")
COMMANDS = StreamSpec("COMMANDS", ("cmd.>",), "Commands to services.")
DEAD_LETTER = StreamSpec(
    "DLQ", ("dlq.>",), "Messages a consumer gave up on, for a person to inspect.", 30 * DAY
)

ALL_STREAMS: tuple[StreamSpec, ...] = (
    PSA,
    USAGE,
    INGEST,
    RECON,
    WRITEBACK,
    TENANT,
    COMMANDS,
    DEAD_LETTER,
)

DOMAIN_STREAMS: tuple[StreamSpec, ...] = (PSA, USAGE, INGEST, RECON, WRITEBACK, TENANT)
"""The streams of facts; the audit service records every one of them."""


def stream_for(subject: str) -> StreamSpec:
    """The stream that captures `subject`."""
    prefix = subject.split(".", 1)[0]
    for spec in ALL_STREAMS:
        if any(s.split(".", 1)[0] == prefix for s in spec.subjects):
            return spec
    raise LookupError(f"no stream captures subject {subject!r}")
