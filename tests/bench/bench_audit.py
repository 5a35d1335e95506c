"""Activity entries per second of one audit replica, on PostgreSQL or SQLite.

Runs NATS and audit as real processes. The events are published before audit starts, so
the figure is how fast audit drains a backlog (the publisher, on the same two cores, is
not what is measured): from the first look at its consumer that sees something
acknowledged until the last event is, timed from the consumer's ack floor. The events are
`ingest.import.finished`, spread round-robin over the tenants, so each batch holds several
tenants and audit opens one transaction per tenant in it.

Target (issue #17): 2,000 entries/s per replica on PostgreSQL. The script exits non-zero
when it is missed, when an event was dead-lettered, or when the entries written are not
one per event.

Usage: python tests/bench/bench_audit.py [--events N] [--tenants N]
       [--postgres-url postgresql://user@host:5432/db]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nats
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_services import drop_schemas, postgres_schemas
from tests.bench.benchkit import (
    cpu_model,
    cpu_seconds,
    finished_import,
    start_nats,
    wait_ready,
)
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.contracts.streams import stream_for
from trueup.devstack.runtime.nats_server import free_port
from trueup.platform.broker import provision_streams

TARGET = 2_000.0
STREAM = "INGEST"
DURABLE = "audit-ingest-import-finished-v1"
DRAIN_TIMEOUT = 600.0


async def publish_backlog(nats_url: str, events: int, tenants: int) -> None:
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        for start in range(0, events, 500):
            sends = []
            for n in range(start, min(start + 500, events)):
                tenant = f"bench-{n % tenants}"
                envelope = wrap(finished_import(n), tenant_id=tenant)
                subject = m.subject_for(m.ImportFinished, tenant)
                sends.append(
                    js.publish(
                        subject,
                        envelope.model_dump_json().encode(),
                        stream=stream_for(subject).name,
                        headers={"Nats-Msg-Id": envelope.event_id},
                    )
                )
            await asyncio.gather(*sends)
    finally:
        await connection.close()


async def drain_rate(nats_url: str, events: int, pid: int) -> tuple[int, float, float]:
    """(events acknowledged while timed, seconds, CPU seconds of process `pid`) from the
    first progress to the last ack."""
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        first: tuple[float, int, float] | None = None
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(STREAM, DURABLE)
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.01)
                continue
            now, acked = time.monotonic(), info.ack_floor.stream_seq
            if first is None and acked > 0:
                first = (now, acked, cpu_seconds(pid))
            if first is not None and acked >= events:
                return events - first[1], now - first[0], cpu_seconds(pid) - first[2]
            await asyncio.sleep(0.02)
        raise SystemExit(f"{DURABLE} did not drain {events} events in time")
    finally:
        await connection.close()


async def dead_lettered(nats_url: str) -> int:
    connection = await nats.connect(nats_url)
    try:
        return int((await connection.jetstream().stream_info("DLQ")).state.messages)
    finally:
        await connection.close()


async def entries_written(url: str, schema: str | None) -> int:
    # The app role sees no rows without a tenant (row-level security): count as admin.
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            table = f'"{schema}".activity_entries' if schema else "activity_entries"
            return int(
                (await connection.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
            )
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--postgres-url", help="run audit on this PostgreSQL")
    args = parser.parse_args()
    tmp, nats_server, env = start_nats("trueup-bench-")
    env["TRUEUP_HTTP_PORT"] = str(free_port())
    schemas = (
        asyncio.run(postgres_schemas(args.postgres_url, ("audit",))) if args.postgres_url else {}
    )
    process: subprocess.Popen[bytes] | None = None
    try:
        if schemas:
            url, schema = schemas["audit"]
            env |= {"TRUEUP_DATABASE_URL": url, "TRUEUP_DATABASE_SCHEMA": schema}
        subprocess.run([sys.executable, "-m", "trueup.audit", "migrate"], env=env, check=True)
        asyncio.run(provision_streams(nats_server.url))
        asyncio.run(publish_backlog(nats_server.url, args.events, args.tenants))
        process = subprocess.Popen([sys.executable, "-m", "trueup.audit"], env=env)
        count, seconds, cpu = asyncio.run(drain_rate(nats_server.url, args.events, process.pid))
        wait_ready(f"http://127.0.0.1:{env['TRUEUP_HTTP_PORT']}/readyz")
        dead = asyncio.run(dead_lettered(nats_server.url))
        if schemas:
            written = asyncio.run(entries_written(_admin_url(args.postgres_url), schema))
        else:
            (database,) = tmp.rglob("audit*.db")
            written = asyncio.run(entries_written(f"sqlite+aiosqlite:///{database}", None))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        nats_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if schemas:
            asyncio.run(drop_schemas(args.postgres_url, schemas))

    rate = count / seconds
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(
        f"audit, one replica, {'PostgreSQL' if schemas else 'SQLite'}: {args.events:,} "
        f"`ingest.import.finished` over {args.tenants} tenants; {count:,} drained in "
        f"{seconds:.2f} s = {rate:,.0f} entries/s (target {TARGET:,.0f} on PostgreSQL); "
        f"audit used {cpu:.2f} CPU-s = {count / cpu:,.0f} entries per CPU-second; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if dead:
        raise SystemExit(f"{dead} events were dead-lettered: the figure is not valid")
    if written != args.events:
        raise SystemExit(f"{written} entries for {args.events} events")
    if schemas and rate < TARGET:
        print(f"below the target of {TARGET:,.0f} entries/s")
        return 1
    return 0


def _admin_url(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False)


if __name__ == "__main__":
    sys.exit(main())
