"""What the benchmark scripts share: the machine they ran on, waiting for a server, and
synthetic tenants (a PSA sync and vendor usage)."""

from __future__ import annotations

import asyncio
import os
import platform
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx

from trueup.contracts import Payload
from trueup.contracts import messages as m
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port


def start_nats(prefix: str) -> tuple[Path, EmbeddedNats, dict[str, str]]:
    """A temporary folder, a nats-server with JetStream in it (started and ready), and the
    environment the services of a benchmark run with (quiet JSON logs)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    nats_server = EmbeddedNats(tmp / "nats", free_port())
    nats_server.start()
    asyncio.run(nats_server.wait_ready())
    env = {
        **os.environ,
        "TRUEUP_NATS_URL": nats_server.url,
        "TRUEUP_DATA_DIR": str(tmp),
        "TRUEUP_LOG_LEVEL": "WARNING",
        "TRUEUP_LOG_FORMAT": "json",
    }
    return tmp, nats_server, env


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (the processor name elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def wait_ready(url: str, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; exit the benchmark if it does not in `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- synthetic tenants ---------------------------------------------------------------------


def psa_sync(
    accounts: int, lines_per_account: int, *, sync_id: str, names: str = "Client "
) -> list[Payload]:
    """A full PSA sync as psa_sync publishes it: one snapshot batch and its completion.

    Account `A<a>` has contract `C<a>` with line items `L<a>-<n>` for products `P<n>`.
    """
    start = date(2025, 1, 1)
    items = [
        m.PsaLineItem(
            psa_id=f"L{a}-{n}",
            contract_psa_id=f"C{a}",
            product_id=f"P{n}",
            product_name=f"Product {n}",
            quantity=Decimal(10 + n),
            unit_price=Decimal("22.00"),
            unit_cost=Decimal("18.50"),
        )
        for a in range(accounts)
        for n in range(lines_per_account)
    ]
    return [
        m.PsaSnapshot(
            connection_id="cw",
            psa="connectwise",
            sync_id=sync_id,
            batch_no=0,
            full=True,
            accounts=[m.PsaAccount(psa_id=f"A{a}", name=f"{names}{a}") for a in range(accounts)],
            contracts=[
                m.PsaContract(
                    psa_id=f"C{a}",
                    account_psa_id=f"A{a}",
                    name=f"MSA {a}",
                    status="active",
                    start_date=start,
                )
                for a in range(accounts)
            ],
            line_items=items,
        ),
        m.PsaSyncCompleted(
            connection_id="cw",
            sync_id=sync_id,
            full=True,
            batches=1,
            accounts=accounts,
            contracts=accounts,
            line_items=len(items),
            active_accounts=accounts,
        ),
    ]


def usage_report(
    counts: dict[int, dict[int, int]],
    batch_id: str,
    *,
    replace: bool,
    source: m.UsageSource = m.UsageSource.CONNECTOR,
    names: str = "Client ",
) -> m.UsageReported:
    """Pax8 usage of vendor accounts `px-<a>` ({account: {product: count}}) for SKUs
    `SKU-<n>` named like the PSA's products; their PSA ids let them map themselves."""
    now = datetime.now(UTC)
    return m.UsageReported(
        vendor="pax8",
        source=source,
        batch_id=batch_id,
        replaces_accounts=[f"px-{a}" for a in counts] if replace else [],
        records=[
            m.UsageRecord(
                vendor_account_id=f"px-{a}",
                vendor_account_name=f"{names}{a}",
                sku=f"SKU-{n}",
                sku_name=f"Product {n}",
                quantity=Decimal(count),
                as_of=now,
                psa_account_hint=f"A{a}",
            )
            for a, of_account in counts.items()
            for n, count in of_account.items()
        ],
    )


def finished_import(n: int) -> m.ImportFinished:
    """The `n`th finished CSV import, as vendor_ingestion announces it (an activity entry)."""
    return m.ImportFinished(
        import_id=f"imp-{n}",
        vendor="pax8",
        file_name=f"usage-{n}.csv",
        status=m.ImportStatus.COMPLETED,
        rows_read=120,
        rows_imported=118,
        rows_skipped=2,
    )
