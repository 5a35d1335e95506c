"""Gateway list-view benchmark: the first page (100 of 50,000 cards) under load.

Runs NATS, reconciliation (its SQLite seeded with 50,000 cards) and the gateway as real
processes, loads `GET /api/v1/cards?limit=100` with wrk, and in the same run loads a
minimal FastAPI endpoint returning the same JSON. Targets: p99 <= 3x the minimal
endpoint's p99, and throughput >= 1/3 of it.

Needs `wrk` (Debian package `wrk`). Usage: python tests/bench/bench_gateway.py
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import sqlalchemy as sa

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import wait_ready
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port
from trueup.reconciliation.models import CardRow

CARDS = 50_000
TENANT = "bench"
KEY = "tu_bench_0123456789abcdefghijklmnop"
DURATION = "15s"
CONNECTIONS = "32"


def seed(database: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{database}")
    now = datetime.now(UTC)
    lines = [f"Service line {i:02d}" for i in range(40)]
    rows = []
    for i in range(CARDS):
        psa = Decimal(10 + i % 50)
        vendor = psa + Decimal(i % 7 - 3)
        rows.append(
            {
                "tenant_id": TENANT,
                "card_id": f"{TENANT}:li:{i}",
                "kind": "reconcile",
                "state": "pending",
                "hidden": False,
                "actioned_on": None,
                "account_id": str(i % 5000),
                "account_name": f"Account {i % 5000:04d}",
                "service_line_id": str(i % 40),
                "service_line": lines[i % 40],
                "contract_id": str(i % 12000),
                "contract_name": f"Contract {i % 12000}",
                "line_item_id": str(i),
                "vendors": "pax8",
                "psa_quantity": psa,
                "vendor_quantity": vendor,
                "target_quantity": vendor,
                "delta": vendor - psa,
                "unit_price": Decimal("22.00"),
                "unit_cost": Decimal("18.50"),
                "currency": "USD",
                "billing_cycle": "monthly",
                "revenue_change": (vendor - psa) * 22,
                "cost_change": (vendor - psa) * Decimal("18.5"),
                "profit_change": (vendor - psa) * Decimal("3.5"),
                "mrr_change": (vendor - psa) * 22,
                "stale": False,
                "usage_as_of": now,
                "auto_approval": None,
                "error": None,
                "last_job_id": None,
                "planned_effective_date": None,
                "contributions": [],
                "fingerprint": "x",
                "updated_at": now,
            }
        )
    with engine.begin() as connection:
        connection.execute(sa.insert(CardRow.__table__), rows)
    engine.dispose()


def wrk(url: str, headers: dict[str, str]) -> tuple[float, float]:
    """(p99 in ms, requests per second)."""
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if p99 is None or rps is None or non2xx is not None:
        raise SystemExit(f"wrk run failed or saw errors:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(p99.group(1)) * scale, float(rps.group(1))


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="trueup-bench-"))
    nats_server = EmbeddedNats(tmp / "nats", free_port())
    nats_server.start()
    asyncio.run(nats_server.wait_ready())
    processes: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "TRUEUP_NATS_URL": nats_server.url,
        "TRUEUP_DATA_DIR": str(tmp),
        "TRUEUP_LOG_LEVEL": "WARNING",
        "TRUEUP_LOG_FORMAT": "json",
        "TRUEUP_RATE_LIMIT_PER_MINUTE": "100000000",
        "TRUEUP_BOOTSTRAP_TENANT_ID": TENANT,
        "TRUEUP_BOOTSTRAP_API_KEY": KEY,
        "TRUEUP_JWT_SECRETS": secrets.token_urlsafe(32),
    }
    try:
        for service in ("reconciliation", "gateway"):
            subprocess.run(
                [sys.executable, "-m", f"trueup.{service}", "migrate"], env=env, check=True
            )
        seed(tmp / "reconciliation.db")
        recon_port, gateway_port, minimal_port = free_port(), free_port(), free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "trueup.reconciliation"],
                env={**env, "TRUEUP_HTTP_PORT": str(recon_port)},
            )
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "trueup.gateway"],
                env={**env, "TRUEUP_HTTP_PORT": str(gateway_port)},
            )
        )
        wait_ready(f"http://127.0.0.1:{recon_port}/readyz")
        wait_ready(f"http://127.0.0.1:{gateway_port}/readyz")
        url = f"http://127.0.0.1:{gateway_port}/api/v1/cards?limit=100"
        headers = {"Authorization": f"Bearer {KEY}"}
        page = httpx.get(url, headers=headers, timeout=30)
        page.raise_for_status()
        body = page.json()
        assert len(body["items"]) == 100
        assert body["totals"]["cards"] == CARDS
        (tmp / "page.json").write_text(json.dumps(body))
        (tmp / "minimal.py").write_text(
            textwrap.dedent(f"""
            import json
            from fastapi import FastAPI
            PAGE = json.load(open({str(tmp / "page.json")!r}))
            app = FastAPI()
            @app.get("/api/v1/cards")
            async def cards() -> dict:
                return PAGE
        """)
        )
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "minimal:app",
                    "--port",
                    str(minimal_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=tmp,
            )
        )
        wait_ready(f"http://127.0.0.1:{minimal_port}/api/v1/cards")
        wrk(url, headers)  # warm-up: caches, connections, JIT-free but lazy imports
        gateway_p99, gateway_rps = wrk(url, headers)
        minimal_p99, minimal_rps = wrk(f"http://127.0.0.1:{minimal_port}/api/v1/cards", {})
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        nats_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    p99_ratio = gateway_p99 / minimal_p99
    rps_ratio = gateway_rps / minimal_rps
    print("| endpoint | p99 (ms) | requests/s |\n| --- | --- | --- |")
    print(
        f"| gateway list view, first 100 of {CARDS:,} cards "
        f"| {gateway_p99:.1f} | {gateway_rps:.0f} |"
    )
    print(f"| minimal FastAPI endpoint, same JSON | {minimal_p99:.1f} | {minimal_rps:.0f} |")
    print(f"| ratio | {p99_ratio:.2f}x (target <= 3x) | {rps_ratio:.2f} (target >= 0.33) |")
    return 0 if p99_ratio <= 3 and rps_ratio >= 1 / 3 else 1


if __name__ == "__main__":
    sys.exit(main())
