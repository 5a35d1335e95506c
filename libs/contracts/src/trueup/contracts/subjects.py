"""NATS subjects. Each carries the tenant and the message version.

Events and commands go through JetStream (see `streams`); queries are request-reply on
core NATS under `query.` and are never stored.
"""

from __future__ import annotations

ANY_TENANT = "*"


def event(domain: str, tenant_id: str, name: str, version: int = 1) -> str:
    """`<domain>.<tenant>.<name>.v<version>`, e.g. `usage.t1.reported.v1`."""
    return f"{domain}.{tenant_id}.{name}.v{version}"


def command(area: str, tenant_id: str, verb: str, version: int = 1) -> str:
    """`cmd.<area>.<tenant>.<verb>.v<version>`, e.g. `cmd.psa.t1.sync.v1`."""
    return f"cmd.{area}.{tenant_id}.{verb}.v{version}"


def query(service: str, tenant_id: str, name: str, version: int = 1) -> str:
    """`query.<service>.<tenant>.<name>.v<version>` (request-reply, not stored)."""
    return f"query.{service}.{tenant_id}.{name}.v{version}"


def dead_letter(service: str, original_subject: str) -> str:
    """Where a consumer parks a message it gave up on."""
    return f"dlq.{service}.{original_subject}"


def tenant_of(subject: str) -> str:
    """The tenant token of an event, command or query subject."""
    parts = subject.split(".")
    if parts[0] in {"cmd", "query"}:
        return parts[2]
    return parts[1]
