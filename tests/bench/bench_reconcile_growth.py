"""How reconciliation's cost grows with tenant size, to size replicas.

For tenants of 100, 1,000, 10,000 and 100,000 line items (10 per account, every line item
fed by one vendor SKU), runs reconciliation's own use cases in this process on a real
database and measures, per size:

- **full import**: one usage batch for every vendor account of the tenant, applied and
  recomputed (what a month-end CSV import or a connector's full pull costs);
- **rebuild**: a whole-tenant recompute from the database with no index in memory (the
  first input after a restart, a PSA sync, a mapping change);
- **webhook update**: one vendor account's new counts (10 records) with the tenant's index
  in memory: median and p95 of 50 updates;
- **memory**: what the tenant's index holds in memory (tracemalloc, measured apart from
  the timings) and per row.

The goal from the issues: the webhook update must not grow with tenant size. The script
fails if the 100-line-item and largest tenants' median webhook updates differ by more than
a factor of 3 (a bound that leaves room for noise, not for growth with size).

Usage: python tests/bench/bench_reconcile_growth.py [--sizes 100,1000,10000,100000]
       [--postgres-url postgresql://user@host:5432/db]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import cpu_model, psa_sync, usage_report
from trueup import domain as d
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.platform.database import Database
from trueup.platform.migrations import upgrade
from trueup.reconciliation import index_cache, inputs, recompute
from trueup.reconciliation import state as st
from trueup.reconciliation.main import MIGRATIONS
from trueup.reconciliation.repository import Repository

LINES_PER_ACCOUNT = 10
UPDATES = 50


def usage(accounts: range, bump: int, batch_id: str) -> m.UsageReported:
    return usage_report(
        {a: {n: 10 + n + bump for n in range(LINES_PER_ACCOUNT)} for a in accounts},
        batch_id,
        replace=True,
    )


async def database_for(args: argparse.Namespace, tmp: Path, label: str) -> Database:
    if not args.postgres_url:
        url = f"sqlite+aiosqlite:///{tmp / (label + '.db')}"
        await asyncio.to_thread(upgrade, MIGRATIONS, url, None)
        return Database(url)
    url = args.postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    schema = f"growth_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(url)
    async with admin.begin() as connection:
        await connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    args.schemas.append(schema)
    await asyncio.to_thread(upgrade, MIGRATIONS, url, schema)
    return Database(url, schema)


async def measure(args: argparse.Namespace, tmp: Path, lines: int) -> dict[str, float]:
    accounts = max(1, lines // LINES_PER_ACCOUNT)
    database = await database_for(args, tmp, f"t{lines}")
    tenant = f"growth{lines}"
    try:
        # Seeding: the PSA side, and a first import that maps every vendor account (by
        # its PSA hint) and SKU (by name) automatically.
        for payload in psa_sync(accounts, LINES_PER_ACCOUNT, sync_id="growth"):
            async with database.transaction(tenant) as session:
                if isinstance(payload, m.PsaSnapshot):
                    await inputs.apply_snapshot(session, wrap(payload, tenant_id=tenant))
                else:
                    await inputs.apply_sync_completed(session, wrap(payload, tenant_id=tenant))
        async with database.transaction(tenant) as session:
            await inputs.apply_usage(
                session, wrap(usage(range(accounts), 0, "seed"), tenant_id=tenant)
            )

        started = time.perf_counter()
        async with database.transaction(tenant) as session:
            await inputs.apply_usage(
                session, wrap(usage(range(accounts), 1, "import"), tenant_id=tenant)
            )
        full_import = time.perf_counter() - started

        index_cache.INDEXES.clear()
        started = time.perf_counter()
        async with database.transaction(tenant) as session:
            await recompute.recompute(session, tenant, reason="bench")
        rebuild = time.perf_counter() - started

        hits = index_cache.INDEXES.hits
        timings: list[float] = []
        for n in range(UPDATES):
            account = (n * 7919) % accounts
            batch = usage(range(account, account + 1), 2 + n % 5, f"hook{n}")
            started = time.perf_counter()
            async with database.transaction(tenant) as session:
                await inputs.apply_usage(session, wrap(batch, tenant_id=tenant))
            timings.append(time.perf_counter() - started)
        if index_cache.INDEXES.hits - hits != UPDATES:
            raise SystemExit(f"{lines} line items: a webhook update missed the index in memory")

        async with database.transaction(tenant, readonly=True) as session:
            repo = Repository(session, tenant)
            data = await repo.load()
            settings = await repo.billing_settings()
        rows = len(data.line_items) + len(data.usage) + len(data.cards)
        # The domain objects and the index over them: what a replica keeps per tenant.
        tracemalloc.start()
        index = d.TenantIndex(st.tenant_state(data, settings))
        memory = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del index
        timings.sort()
        return {
            "lines": lines,
            "full_import": full_import,
            "rebuild": rebuild,
            "update_p50": statistics.median(timings),
            "update_p95": timings[int(len(timings) * 0.95) - 1],
            "memory": memory,
            "rows": rows,
        }
    finally:
        index_cache.INDEXES.clear()
        await database.dispose()


async def drop_schemas(args: argparse.Namespace) -> None:
    if not args.schemas:
        return
    admin = create_async_engine(
        args.postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    )
    async with admin.begin() as connection:
        for schema in args.schemas:
            await connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--postgres-url", help="run on this PostgreSQL (a schema per size)")
    args = parser.parse_args()
    args.schemas = []
    tmp = Path(tempfile.mkdtemp(prefix="trueup-growth-"))
    results: list[dict[str, float]] = []
    try:
        for lines in (int(size) for size in args.sizes.split(",")):
            results.append(asyncio.run(measure(args, tmp, lines)))
            print(f"measured {lines} line items", file=sys.stderr)
    finally:
        asyncio.run(drop_schemas(args))
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(f"database: {'PostgreSQL' if args.postgres_url else 'SQLite'}; in-process use cases\n")
    print(
        "| line items | full import | rebuild from the database | webhook update p50 / p95 "
        "| index memory | per row |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {int(r['lines']):,} | {r['full_import']:.2f} s | {r['rebuild']:.2f} s "
            f"| {r['update_p50'] * 1000:.1f} / {r['update_p95'] * 1000:.1f} ms "
            f"| {r['memory'] / 2**20:.1f} MiB | {r['memory'] / max(r['rows'], 1):.0f} B |"
        )
    smallest, largest = results[0], results[-1]
    growth = largest["update_p50"] / smallest["update_p50"]
    print(f"\nwebhook update, largest over smallest tenant: {growth:.2f}× (bound: 3×)")
    return 0 if growth <= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
