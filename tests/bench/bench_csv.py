"""Benchmark: a 1,000,000-row vendor usage CSV through trueup.vendors.csv.

Generates about 80 MB of distributor billing export (5,000 vendor accounts, 300 SKUs,
quoted names containing commas) in a temporary directory, times detect + validate +
aggregate through the library, then times the baseline on the same file:
`pyarrow.csv.read_csv` plus a pandas group-by-sum. Prints a markdown table and exits
non-zero when a target is missed:

- library time <= 5x the baseline (the end-to-end import target is 10x);
- peak resident memory of the process <= 1 GB.

Run: python tests/bench/bench_csv.py [--rows N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pa_csv

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import cpu_model
from trueup.vendors.csv import ColumnMapping, QuantityMode, aggregate, detect

ACCOUNTS = 5_000
SKUS = 300
SKUS_PER_ACCOUNT = 12
RATIO_TARGET = 5.0
PEAK_RSS_TARGET_MB = 1024.0


def generate(path: Path, rows: int, seed: int = 7, chunk: int = 100_000) -> None:
    """Write a distributor billing export with `rows` data rows, a chunk at a time."""
    rng = np.random.default_rng(seed)
    # Each account buys a handful of SKUs, as real clients do.
    account_skus = rng.integers(0, SKUS, (ACCOUNTS, SKUS_PER_ACCOUNT))
    names = np.array([f"Client {n:04d}, Inc." for n in range(ACCOUNTS)], dtype=object)
    products = np.array([f"Product {n:03d}, Monthly" for n in range(SKUS)], dtype=object)
    for start in range(0, rows, chunk):
        size = min(chunk, rows - start)
        account = rng.integers(0, ACCOUNTS, size)
        sku = account_skus[account, rng.integers(0, SKUS_PER_ACCOUNT, size)]
        frame = pd.DataFrame(
            {
                "Customer Id": np.char.add("C", np.char.zfill(account.astype(str), 5)),
                "Customer Name": names[account],
                "SKU": np.char.add("SKU-", np.char.zfill(sku.astype(str), 4)),
                "Product": products[sku],
                "Quantity": rng.integers(1, 500, size),
                "Unit Price": np.char.add(rng.integers(1, 90, size).astype(str), ".50"),
                "Start": "2026-11-01",
            }
        )
        frame.to_csv(path, index=False, mode="a", header=start == 0)


def emit(line: str) -> None:
    """Write one line of the report to standard output."""
    sys.stdout.write(line + "\n")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "distributor-export.csv"
        started = time.perf_counter()
        generate(path, arguments.rows)
        generated_in = time.perf_counter() - started
        size_mb = path.stat().st_size / 1_000_000
        rss_before = peak_rss_mb()

        started = time.perf_counter()
        detection = detect(path)
        mapping = ColumnMapping(
            account_column="Customer Name",
            account_id_column="Customer Id",
            sku_column="SKU",
            quantity_mode=QuantityMode.SUM_PER_SKU,
            quantity_column="Quantity",
            price_column="Unit Price",
        )
        result = aggregate(path, mapping, detection)
        library_s = time.perf_counter() - started
        library_rss = peak_rss_mb()

        started = time.perf_counter()
        table = pa_csv.read_csv(path)
        baseline_frame = table.to_pandas()
        baseline = baseline_frame.groupby(["Customer Id", "SKU"])["Quantity"].sum()
        baseline_s = time.perf_counter() - started
        overall_rss = peak_rss_mb()

    library_usage = result.usage_by_key()
    expected = {key: Decimal(int(value)) for key, value in baseline.items()}
    if library_usage != expected:
        sys.stderr.write("MISMATCH: library usage differs from the pandas baseline\n")
        return 2
    if result.counts.rows_imported != arguments.rows:
        sys.stderr.write(f"MISMATCH: imported {result.counts.rows_imported} rows\n")
        return 2

    ratio = library_s / baseline_s
    cpu = cpu_model()
    emit(f"CSV import benchmark: {arguments.rows:,} rows, {size_mb:.1f} MB, {cpu}")
    emit(f"(generated in {generated_in:.1f} s; {len(library_usage):,} account/SKU pairs)")
    emit("")
    emit("| measure | value | target |")
    emit("| --- | --- | --- |")
    emit(f"| library detect + validate + aggregate | {library_s:.2f} s | |")
    emit(f"| pyarrow read_csv + pandas group-by-sum | {baseline_s:.2f} s | |")
    emit(f"| ratio library / baseline | {ratio:.2f}x | <= {RATIO_TARGET:.0f}x |")
    emit(f"| peak RSS before import (generator) | {rss_before:.0f} MB | |")
    emit(
        f"| peak RSS after library import | {library_rss:.0f} MB | <= {PEAK_RSS_TARGET_MB:.0f} MB |"
    )
    emit(f"| peak RSS after baseline | {overall_rss:.0f} MB | |")
    missed = ratio > RATIO_TARGET or library_rss > PEAK_RSS_TARGET_MB
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
