"""Benchmark of account-name matching: precision, recall and F1 per threshold.

On the labelled vendor/PSA name pairs of `tests/unit/domain/data/name_pairs.tsv` (realistic
spellings and hard negatives, generated deterministically by
`tests/unit/domain/name_pairs.py`), each vendor name is mapped to its best suggestion when
that suggestion's score is at or above the threshold. Target at the default threshold:
precision at least 99 % and recall at least 90 %. Prints a markdown table; exits non-zero
when the target is missed.

Run: .venv/bin/python tests/bench/bench_matching.py [--mistakes]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from decimal import Decimal
from pathlib import Path

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import cpu_model
from tests.unit.domain import name_pairs
from trueup.domain import DEFAULT_SUGGESTION_THRESHOLD

THRESHOLDS = tuple(Decimal(t) for t in (80, 85, 90, 95))
PRECISION_TARGET = 0.99
RECALL_TARGET = 0.90


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mistakes", action="store_true", help="list wrong and missed suggestions")
    args = parser.parse_args()
    pairs = name_pairs.load()
    started = time.perf_counter()
    qualities = name_pairs.measure(pairs, sorted({*THRESHOLDS, DEFAULT_SUGGESTION_THRESHOLD}))
    seconds = time.perf_counter() - started
    positives = sum(1 for p in pairs if p.is_match)
    print(f"machine: {cpu_model()}, Python {platform.python_version()}")
    print(
        f"{len(pairs)} labelled pairs ({positives} matches, {len(pairs) - positives} "
        f"non-matches), {qualities[0].vendor_names} vendor names, "
        f"{qualities[0].with_match} of them with a match; scored in {seconds:.2f} s\n"
    )
    print("| threshold | strong suggestions | right | wrong | precision | recall | F1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for q in qualities:
        default = " (default)" if q.threshold == DEFAULT_SUGGESTION_THRESHOLD else ""
        print(
            f"| {q.threshold}{default} | {q.right + q.wrong} | {q.right} | {q.wrong} "
            f"| {q.precision:.2%} | {q.recall:.2%} | {q.f1:.3f} |"
        )
    at_default = next(q for q in qualities if q.threshold == DEFAULT_SUGGESTION_THRESHOLD)
    if args.mistakes:
        print()
        for line in name_pairs.mistakes(pairs, DEFAULT_SUGGESTION_THRESHOLD):
            print(line)
    for path in name_pairs.HAND_WRITTEN:
        hand_written = name_pairs.load(path)
        with_match = sum(1 for p in hand_written if p.is_match)
        print(
            f"\nhand-written set {path.name}: {len(hand_written)} pairs ({with_match} matches, "
            f"{len(hand_written) - with_match} non-matches)\n"
        )
        print("| threshold | strong suggestions | right | wrong | precision | recall |")
        print("| --- | --- | --- | --- | --- | --- |")
        for q in name_pairs.measure(
            hand_written, sorted({*THRESHOLDS, DEFAULT_SUGGESTION_THRESHOLD})
        ):
            print(
                f"| {q.threshold} | {q.right + q.wrong} | {q.right} | {q.wrong} "
                f"| {q.precision:.2%} | {q.recall:.2%} |"
            )
        if args.mistakes:
            print()
            for line in name_pairs.mistakes(hand_written, DEFAULT_SUGGESTION_THRESHOLD):
                print(line)
    met = at_default.precision >= PRECISION_TARGET and at_default.recall >= RECALL_TARGET
    print(
        f"\nat the default threshold {DEFAULT_SUGGESTION_THRESHOLD}: precision "
        f"{at_default.precision:.2%} (target ≥ {PRECISION_TARGET:.0%}), recall "
        f"{at_default.recall:.2%} (target ≥ {RECALL_TARGET:.0%}) — "
        f"{'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
