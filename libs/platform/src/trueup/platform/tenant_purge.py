"""A deleted tenant's messages and uploads, removed from NATS.

The services forget a deleted tenant's rows (`tenants.consume_tenant_deletions`), but
NATS would keep what it sent: its events and commands (account and product names,
quantities, prices) in every stream until their retention (7 days; 30 in the dead-letter
stream), and its uploads never imported in the `imports` bucket until their 24-hour TTL.
`purge_tenant` removes them; the gateway calls it once, where the deletion reaches it.

It keeps the operator's events about the tenant (`tenants.OPERATOR_EVENTS`: created,
invite issued, suspended or resumed, deleted), in their stream and in the dead-letter
stream:

- the deletion itself must stay: every service reads it from the stream on a durable
  consumer of its own, and a service that is behind or down when the gateway purges
  would otherwise never delete the tenant's rows;
- audit files the others in the operator scope from consumers of their own, which may be
  behind too;
- they carry nothing the operator's log does not keep for good (the tenant's id and
  name, who acted and when), and a dead-lettered deletion is how a person learns that a
  service did not delete.

They leave with their stream's retention. Everything else of the tenant goes, whether or
not a consumer has read it: a service that has not yet deleted the tenant is spared
work for a tenant it is about to forget.
"""

from __future__ import annotations

from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from trueup.contracts import subjects
from trueup.contracts.ingest import IMPORTS_BUCKET
from trueup.contracts.messages import subject_for
from trueup.contracts.streams import ALL_STREAMS, DEAD_LETTER
from trueup.platform.logging import get_logger
from trueup.platform.tenants import OPERATOR_EVENTS

log = get_logger(__name__)


def _tenant_filter(domain: str, tenant_id: str) -> str:
    # The tenant's token is where `subjects.tenant_of` reads it: second in an event's
    # subject, third in a command's or query's (after the area or service).
    if domain in {"cmd", "query"}:
        return f"{domain}.*.{tenant_id}.>"
    return f"{domain}.{tenant_id}.>"


def tenant_subject_filters(tenant_id: str) -> list[tuple[str, str]]:
    """(stream, subject filter) pairs that together match every subject of `tenant_id`
    in every stream, dead letters included, and no other tenant's."""
    filters: list[tuple[str, str]] = []
    for spec in ALL_STREAMS:
        if spec is DEAD_LETTER:
            continue
        for captured in spec.subjects:
            subject_filter = _tenant_filter(captured.split(".", 1)[0], tenant_id)
            filters.append((spec.name, subject_filter))
            filters.append((DEAD_LETTER.name, subjects.dead_letter("*", subject_filter)))
    return filters


def kept_subjects(tenant_id: str) -> frozenset[str]:
    """The subjects of the operator's events about `tenant_id`, which the purge leaves."""
    return frozenset(subject_for(model, tenant_id) for model in OPERATOR_EVENTS)


def _original(stream: str, subject: str) -> str:
    """The subject a message was sent on (a dead letter's follows `dlq.<service>.`)."""
    return subject.split(".", 2)[2] if stream == DEAD_LETTER.name else subject


async def purge_tenant_messages(js: JetStreamContext, tenant_id: str) -> int:
    """Remove every message of `tenant_id` from every stream but the operator's events
    about it; how many were removed. Running it again removes what arrived since."""
    kept = kept_subjects(tenant_id)
    purged = 0
    for stream, subject_filter in tenant_subject_filters(tenant_id):
        try:
            # The subjects present, with their counts: purging by each one that is not
            # kept leaves the kept ones without listing every kind of message.
            info = await js.stream_info(stream, subjects_filter=subject_filter)
        except NotFoundError:
            continue  # not provisioned on this server: it holds nothing of the tenant's
        for subject, count in sorted((info.state.subjects or {}).items()):
            if _original(stream, subject) in kept:
                continue
            await js.purge_stream(stream, subject=subject)
            purged += count
    return purged


def upload_prefix(tenant_id: str) -> str:
    """How the names of a tenant's objects in the imports bucket begin: the gateway names
    an upload `<tenant>/<import id>`."""
    return f"{tenant_id}/"


async def delete_tenant_uploads(js: JetStreamContext, tenant_id: str) -> int:
    """Delete every object of `tenant_id` in the imports bucket; how many were deleted.

    A deleted object leaves a marker with its name (the tenant's and the import's ids,
    nothing of the file) until the bucket's TTL.
    """
    try:
        bucket = await js.object_store(IMPORTS_BUCKET)
        objects = await bucket.list(ignore_deletes=True)
    except NotFoundError:
        return 0  # no bucket yet, or nothing in it
    prefix = upload_prefix(tenant_id)
    deleted = 0
    for info in objects:
        if not (info.name or "").startswith(prefix):
            continue
        try:
            await bucket.delete(info.name)
        except NotFoundError:
            continue  # vendor ingestion discarded it meanwhile
        deleted += 1
    return deleted


async def purge_tenant(broker: NatsBroker, tenant_id: str) -> tuple[int, int]:
    """Remove a deleted tenant's messages and uploads from NATS: (messages, uploads).

    Idempotent: a second run finds nothing left but what arrived since, and removes that.
    """
    js: JetStreamContext = broker.config.connection_state.stream
    messages = await purge_tenant_messages(js, tenant_id)
    uploads = await delete_tenant_uploads(js, tenant_id)
    log.info("tenant purged from nats", messages=messages, uploads=uploads)
    return messages, uploads
