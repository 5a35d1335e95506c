"""Capacity of one reconciliation replica and one audit replica, end to end.

Runs NATS, reconciliation and audit as real processes (one replica each; SQLite, or
PostgreSQL with `--postgres-url`, as in production), seeds
average tenants through the PSA stream as psa_sync would (50 accounts, 500 line items,
usage for every line item), then:

- **reconciliation**: publishes bursts of `usage.reported` events, first one vendor
  account's new counts each (a connector's update), then a whole tenant's usage each (a
  month-end import batch), and times until its usage consumer has acknowledged all of
  them. Each event recomputes the cards of the accounts it feeds: the rate is usage
  reports per second.
- **audit**: publishes a burst of `ingest.import.finished` events and times until its
  consumer has acknowledged all of them; each becomes one activity entry.

Prints the rates and p50/p95 time from publish to acknowledgement. There is no target in
the issues for these rates: they are the capacity figures of docs/operations.md. The script
exits non-zero only when a burst is not drained in time.

Usage: python tests/bench/bench_services.py [--tenants N] [--usage-events N]
       [--audit-events N] [--postgres-url postgresql://user@host:5432/db]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import nats
import sqlalchemy as sa
from nats.js import JetStreamContext

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import cpu_model, psa_sync, start_nats, usage_report, wait_ready
from trueup.contracts import Payload, wrap
from trueup.contracts import messages as m
from trueup.contracts.streams import stream_for
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port

ACCOUNTS = 50
LINE_ITEMS_PER_ACCOUNT = 10
VENDOR = "pax8"
DRAIN_TIMEOUT = 600.0
SERVICES = ("reconciliation", "audit")
# Services run as a role that is neither superuser nor BYPASSRLS, as in production.
APP_ROLE = "trueup_bench_app"


async def postgres_schemas(
    admin_url: str, services: tuple[str, ...] = SERVICES
) -> dict[str, tuple[str, str]]:
    """A fresh schema per service: {service: (database URL for the app role, schema)}."""
    url = sa.make_url(admin_url)
    suffix = uuid.uuid4().hex[:8]
    connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    found: dict[str, tuple[str, str]] = {}
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE):
            await connection.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        for service in services:
            schema = f"bench_{service}_{suffix}"
            await connection.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION {APP_ROLE}')
            app_url = url.set(drivername="postgresql+asyncpg", username=APP_ROLE, password=None)
            found[service] = (app_url.render_as_string(hide_password=False), schema)
    finally:
        await connection.close()
    return found


async def drop_schemas(admin_url: str, schemas: dict[str, tuple[str, str]]) -> None:
    url = sa.make_url(admin_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(False))
    try:
        for _url, schema in schemas.values():
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def stop_stack(
    processes: list[subprocess.Popen[bytes]],
    nats_server: EmbeddedNats,
    tmp: Path,
    postgres_url: str | None,
    schemas: dict[str, tuple[str, str]],
) -> None:
    """Stop the services a benchmark started, then NATS; remove its files and schemas."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    nats_server.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    if schemas and postgres_url:
        asyncio.run(drop_schemas(postgres_url, schemas))


def snapshot(tenant: int) -> list[Payload]:
    """An average tenant's full PSA sync: one snapshot batch and its completion."""
    return psa_sync(
        ACCOUNTS, LINE_ITEMS_PER_ACCOUNT, sync_id=f"bench-{tenant}", names=f"Client {tenant}-"
    )


def usage(accounts: range, bump: int, batch_id: str) -> m.UsageReported:
    """Vendor accounts' counts for every product; their PSA ids let them map themselves."""
    return usage_report(
        {a: {n: 10 + n + bump for n in range(LINE_ITEMS_PER_ACCOUNT)} for a in accounts},
        batch_id,
        replace=True,
    )


async def publish(js: JetStreamContext, tenant: str, payload: Payload) -> None:
    envelope = wrap(payload, tenant_id=tenant)
    subject = m.subject_for(type(payload), tenant)
    await js.publish(
        subject,
        envelope.model_dump_json().encode(),
        stream=stream_for(subject).name,
        headers={"Nats-Msg-Id": envelope.event_id},
    )


async def drained(js: JetStreamContext, stream: str, durable: str, published: int) -> None:
    """Wait until the consumer has acknowledged everything published to its stream."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        info = await js.consumer_info(stream, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered:
            stream_info = await js.stream_info(stream)
            if info.ack_floor.stream_seq >= stream_info.state.last_seq:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{durable} did not drain {published} messages in time")
        await asyncio.sleep(0.05)


async def burst(
    js: JetStreamContext,
    messages: list[tuple[str, Payload]],
    stream: str,
    durable: str,
) -> tuple[float, list[float]]:
    """Publish `messages` as fast as possible; seconds until acknowledged, and latencies.

    Latency per message is sampled by how far behind the consumer's ack floor is: the time
    from a message's publish to the first poll that sees it acknowledged.
    """
    start = time.monotonic()
    first_seq = (await js.stream_info(stream)).state.last_seq + 1
    published_at: list[float] = []
    for tenant, payload in messages:
        await publish(js, tenant, payload)
        published_at.append(time.monotonic())
    latencies: list[float] = []
    acked = 0
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while acked < len(messages):
        info = await js.consumer_info(stream, durable)
        now = time.monotonic()
        floor = info.ack_floor.stream_seq - first_seq + 1
        while acked < min(floor, len(messages)):
            latencies.append(now - published_at[acked])
            acked += 1
        if now > deadline:
            raise SystemExit(f"{durable} acknowledged {acked} of {len(messages)} in time")
        await asyncio.sleep(0.02)
    return time.monotonic() - start, latencies


async def measure(nats_url: str, args: argparse.Namespace) -> dict[str, tuple[float, list[float]]]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    tenants = [f"bench-{t}" for t in range(args.tenants)]
    try:
        # Seed: every tenant's PSA state, then usage for every account (maps itself).
        for number, tenant in enumerate(tenants):
            for payload in snapshot(number):
                await publish(js, tenant, payload)
        await drained(js, "PSA", "reconciliation-psa", args.tenants * 2)
        for tenant in tenants:
            await publish(js, tenant, usage(range(ACCOUNTS), 0, "seed"))
        await drained(js, "USAGE", "reconciliation-usage", args.tenants)
        results: dict[str, tuple[float, list[float]]] = {}
        # A connector's update of one vendor account (10 records), spread over the tenants.
        updates = [
            (
                tenants[n % len(tenants)],
                usage(range(n % ACCOUNTS, n % ACCOUNTS + 1), 1 + n % 3, f"u{n}"),
            )
            for n in range(args.usage_events)
        ]
        results["reconciliation: one vendor account's update"] = await burst(
            js, updates, "USAGE", "reconciliation-usage"
        )
        # A month-end import batch covering a whole tenant (500 records), every tenant twice.
        imports = [
            (tenant, usage(range(ACCOUNTS), 4 + n, f"i{n}-{tenant}"))
            for n in range(2)
            for tenant in tenants
        ]
        results["reconciliation: a whole tenant's import batch"] = await burst(
            js, imports, "USAGE", "reconciliation-usage"
        )
        finished = [
            (
                tenants[n % len(tenants)],
                m.ImportFinished(
                    import_id=f"imp-{n}",
                    vendor=VENDOR,
                    file_name=f"usage-{n}.csv",
                    status=m.ImportStatus.COMPLETED,
                    rows_read=120,
                    rows_imported=118,
                    rows_skipped=2,
                ),
            )
            for n in range(args.audit_events)
        ]
        results["audit"] = await burst(js, finished, "INGEST", "audit-ingest-import-finished-v1")
        # A handler that fails still ends in an acknowledgement (after its last delivery the
        # event goes to the dead-letter stream), so a fast burst proves nothing by itself.
        dead = (await js.stream_info("DLQ")).state.messages
        if dead:
            raise SystemExit(f"{dead} events were dead-lettered: the figures are not valid")
        return results
    finally:
        await nc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--usage-events", type=int, default=300)
    parser.add_argument("--audit-events", type=int, default=2_000)
    parser.add_argument("--postgres-url", help="run the services on this PostgreSQL")
    args = parser.parse_args()
    tmp, nats_server, env = start_nats("trueup-bench-")
    processes: list[subprocess.Popen[bytes]] = []
    schemas = asyncio.run(postgres_schemas(args.postgres_url)) if args.postgres_url else {}
    try:
        for service in SERVICES:
            service_env = {**env, "TRUEUP_HTTP_PORT": str(free_port())}
            if service in schemas:
                url, schema = schemas[service]
                service_env |= {"TRUEUP_DATABASE_URL": url, "TRUEUP_DATABASE_SCHEMA": schema}
            subprocess.run(
                [sys.executable, "-m", f"trueup.{service}", "migrate"], env=service_env, check=True
            )
            processes.append(
                subprocess.Popen([sys.executable, "-m", f"trueup.{service}"], env=service_env)
            )
            port = service_env["TRUEUP_HTTP_PORT"]
            wait_ready(f"http://127.0.0.1:{port}/readyz")
        results = asyncio.run(measure(nats_server.url, args))
    finally:
        stop_stack(processes, nats_server, tmp, args.postgres_url, schemas)

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(
        f"tenants: {args.tenants}, each {ACCOUNTS} accounts and "
        f"{ACCOUNTS * LINE_ITEMS_PER_ACCOUNT} line items; one replica per service, "
        f"{'PostgreSQL' if schemas else 'SQLite'}\n"
    )
    print("| service | burst | drained in | rate | p50 / p95 publish to ack |")
    print("| --- | --- | --- | --- | --- |")
    for service, (seconds, latencies) in results.items():
        unit = "activity entries/s" if service == "audit" else "usage reports/s"
        count = len(latencies)
        p95 = statistics.quantiles(latencies, n=20)[-1]
        print(
            f"| {service} | {count:,} events | {seconds:.1f} s | "
            f"{count / seconds:,.1f} {unit} | "
            f"{statistics.median(latencies):.2f} s / {p95:.2f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
