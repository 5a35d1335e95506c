"""Benchmark of the reconciliation domain.

Full reconcile of one tenant with 100,000 line items and 1,000,000 usage records, against
pandas grouping and summing the same 1,000,000 usage records in the same run (target: at
most 10x), and incremental re-reconcile of one account after one usage change (target:
median at most 5 ms). Prints a markdown table; exits non-zero when a target is missed.

Run: .venv/bin/python tests/bench/bench_domain.py [--line-items N] [--usage N]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import cpu_model
from trueup.domain import (
    Account,
    AccountMapping,
    CardKind,
    Contract,
    LineItem,
    ReconcileResult,
    ServiceLine,
    ServiceMapping,
    TenantIndex,
    TenantState,
    VendorUsage,
    reconcile,
)

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
TODAY = NOW.date()
VENDORS = ("pax8", "sherweb", "sentinelone", "acronis")
SERVICE_LINES_PER_VENDOR = 12
LINE_ITEMS_PER_ACCOUNT = 10
FULL_RATIO_TARGET = 10.0
INCREMENTAL_TARGET_MS = 5.0


def build_tenant(line_items: int, usage_records: int, seed: int = 7) -> TenantState:
    """A synthetic MSP: accounts with contracts, line items, mapped and unmapped usage."""
    rng = random.Random(seed)
    service_lines = [
        ServiceLine(f"sl-{v}-{n}", f"{v} product {n}", f"P-{v}-{n}", v)
        for v in VENDORS
        for n in range(SERVICE_LINES_PER_VENDOR)
    ]
    service_mappings = [
        ServiceMapping(s.vendor_tag or "", f"SKU-{s.id}", s.id) for s in service_lines
    ]
    # Bundles: one SKU feeding two service lines.
    service_mappings += [
        ServiceMapping("pax8", "SKU-bundle", "sl-pax8-0"),
        ServiceMapping("pax8", "SKU-bundle", "sl-pax8-1"),
    ]
    account_count = line_items // LINE_ITEMS_PER_ACCOUNT
    accounts = [Account(f"A{i}", f"Client {i}") for i in range(account_count)]
    contracts: list[Contract] = []
    items: list[LineItem] = []
    mappings: list[AccountMapping] = []
    usage_keys: list[tuple[str, str, str]] = []
    for i, account in enumerate(accounts):
        contract = Contract(f"C{i}", account.id, f"MSA {i}", start=date(2024, 1, 1))
        contracts.append(contract)
        lines = rng.sample(service_lines, LINE_ITEMS_PER_ACCOUNT)
        for n, line in enumerate(lines):
            items.append(
                LineItem(
                    f"L{i}-{n}",
                    contract.id,
                    line.product_id,
                    Decimal(rng.randint(1, 60)),
                    Decimal("22.00"),
                    Decimal("18.50"),
                )
            )
            # Most billed lines have usage; some usage is for lines nobody bills (New Revenue).
            if rng.random() < 0.9:
                usage_keys.append(
                    (line.vendor_tag or "", f"{line.vendor_tag}-{i}", f"SKU-{line.id}")
                )
        extra = rng.choice(service_lines)
        vendor = extra.vendor_tag or ""
        usage_keys.append((vendor, f"{vendor}-{i}", f"SKU-{extra.id}"))
        for vendor in VENDORS:
            mappings.append(AccountMapping(vendor, f"{vendor}-{i}", account.id))
    # Vendor accounts nobody mapped yet, and a SKU nobody mapped yet.
    for j in range(account_count // 50):
        usage_keys.append(("pax8", f"pax8-orphan-{j}", "SKU-sl-pax8-3"))
        usage_keys.append(("pax8", f"pax8-{j}", "SKU-unmapped"))
    per_key = max(1, usage_records // len(usage_keys))
    records: list[VendorUsage] = []
    as_of = NOW - timedelta(hours=3)
    for n in range(usage_records):
        vendor, vendor_account_id, sku = usage_keys[(n // per_key) % len(usage_keys)]
        records.append(
            VendorUsage(
                vendor,
                vendor_account_id,
                sku,
                f"{vendor}-api",
                Decimal(rng.randint(0, 5)),
                as_of,
            )
        )
    return TenantState(
        tenant_id="bench",
        accounts=accounts,
        contracts=contracts,
        line_items=items,
        service_lines=service_lines,
        usage=records,
        account_mappings=mappings,
        service_mappings=service_mappings,
    )


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of `repeat` calls of `fn`.

    The heap is collected before each call, outside the timing, so that no call pays for a
    full collection of garbage an earlier one left (the full reconcile still pays for its
    own: it pauses the collector and the collector catches up when it returns).
    """
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def main() -> int:
    """Run the benchmark and print its table; non-zero exit when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--line-items", type=int, default=100_000)
    parser.add_argument("--usage", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    out = sys.stdout.write

    build_start = time.perf_counter()
    state = build_tenant(args.line_items, args.usage)
    build_seconds = time.perf_counter() - build_start

    frame = pd.DataFrame(
        {
            "vendor": [u.vendor for u in state.usage],
            "vendor_account_id": [u.vendor_account_id for u in state.usage],
            "sku": [u.sku for u in state.usage],
            "quantity": [int(u.quantity) for u in state.usage],
        }
    )
    keys = ["vendor", "vendor_account_id", "sku"]
    results: list[ReconcileResult] = []
    pandas_wall: list[float] = []
    pandas_cpu: list[float] = []
    full_wall: list[float] = []
    full_cpu: list[float] = []
    # Interleaved, so that both see the same load on a shared machine.
    for _ in range(args.repeat):
        wall, cpu = timed(lambda: frame.groupby(keys)["quantity"].sum(), 3)
        pandas_wall += wall
        pandas_cpu += cpu
        wall, cpu = timed(lambda: results.append(reconcile(state, today=TODAY, now=NOW)), 1)
        full_wall += wall
        full_cpu += cpu
        del results[:-1]
    result = results[-1]

    # Incremental: one vendor account reports a changed count; recompute its account.
    index = TenantIndex(state)
    rng = random.Random(11)
    by_vendor_account: dict[tuple[str, str], list[VendorUsage]] = {}
    for record in state.usage:
        by_vendor_account.setdefault((record.vendor, record.vendor_account_id), []).append(record)
    mapped = [key for key in by_vendor_account if key in index.account_mappings]
    incremental_ms = []
    for key in rng.sample(mapped, min(300, len(mapped))):
        records = by_vendor_account[key]
        changed = [records[0]._replace(quantity=records[0].quantity + 1), *records[1:]]
        start = time.perf_counter()
        for account_id in index.replace_usage(key[0], key[1], changed):
            index.reconcile_account(account_id, today=TODAY, now=NOW)
        incremental_ms.append((time.perf_counter() - start) * 1000)

    # For context only: pandas starting from the same Python records, with their exact
    # Decimal quantities (building the frame is part of the work there).
    def pandas_from_records() -> object:
        usage = state.usage
        records_frame = pd.DataFrame(
            {
                "vendor": [u.vendor for u in usage],
                "vendor_account_id": [u.vendor_account_id for u in usage],
                "sku": [u.sku for u in usage],
                "quantity": [u.quantity for u in usage],
            }
        )
        return records_frame.groupby(keys)["quantity"].sum()

    from_records_wall, from_records_cpu = timed(pandas_from_records, 3)

    median = statistics.median
    ratio_cpu = median(full_cpu) / median(pandas_cpu)
    ratio_wall = median(full_wall) / median(pandas_wall)
    incremental = median(incremental_ms)
    p95 = statistics.quantiles(incremental_ms, n=20)[-1]
    kinds = {kind: sum(1 for c in result.cards if c.kind is kind) for kind in CardKind}
    ratio_ok = ratio_cpu <= FULL_RATIO_TARGET
    incremental_ok = incremental <= INCREMENTAL_TARGET_MS

    out(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; ")
    out(f"pandas {pd.__version__}\n")
    out(
        f"tenant: {len(state.line_items):,} line items, {len(state.usage):,} usage records, "
        f"{result.active_accounts:,} active accounts; cards: "
        + ", ".join(f"{k.value} {v:,}" for k, v in kinds.items())
        + f"; unmapped: {len(result.unmapped_accounts)} vendor accounts, "
        f"{len(result.unmapped_skus)} SKUs; test data built in {build_seconds:.1f} s\n\n"
    )
    rows = [
        ("measure", "CPU time", "wall time", "target", "met"),
        ("---", "---", "---", "---", "---"),
        (
            f"pandas group-by-sum of the usage (median of {len(pandas_cpu)})",
            f"{median(pandas_cpu) * 1000:.0f} ms",
            f"{median(pandas_wall) * 1000:.0f} ms",
            "baseline",
            "",
        ),
        (
            "pandas from the same records, Decimal quantities, frame built (context only)",
            f"{median(from_records_cpu) * 1000:.0f} ms",
            f"{median(from_records_wall) * 1000:.0f} ms",
            "",
            "",
        ),
        (
            f"full reconcile (median of {len(full_cpu)})",
            f"{median(full_cpu) * 1000:.0f} ms",
            f"{median(full_wall) * 1000:.0f} ms",
            "",
            "",
        ),
        (
            "full reconcile / pandas",
            f"{ratio_cpu:.1f}x",
            f"{ratio_wall:.1f}x",
            f"<= {FULL_RATIO_TARGET:.0f}x (CPU)",
            "yes" if ratio_ok else "NO",
        ),
        (
            f"incremental re-reconcile of one account (median of {len(incremental_ms)})",
            "",
            f"{incremental:.2f} ms (p95 {p95:.2f} ms)",
            f"<= {INCREMENTAL_TARGET_MS:.0f} ms",
            "yes" if incremental_ok else "NO",
        ),
    ]
    for row in rows:
        out("| " + " | ".join(row) + " |\n")
    return 0 if ratio_ok and incremental_ok else 1


if __name__ == "__main__":
    sys.exit(main())
