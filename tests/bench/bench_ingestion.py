"""Benchmark: vendor_ingestion end to end, as separate processes on real NATS.

1. CSV import. A 1,000,000-row distributor export (about 80 MB; 5,000 vendor accounts,
   300 SKUs, quoted names containing commas; the generator of `bench_csv.py`) is
   uploaded through the gateway's API, committed, and timed until every
   `usage.reported` event is in the USAGE stream. The same run times
   `pyarrow.csv.read_csv` plus a pandas group-by-sum on the file, checks that the
   stored usage equals the baseline's sums, and reads the ingestion process's peak
   resident memory (VmHWM). Targets: at most 10x the baseline, at most 1 GB.
2. Signed webhooks. Each request carries one usage record, signed per Standard
   Webhooks; the service verifies, commits, then answers 202. An open-loop sender on
   127.0.0.1 sends at fixed rates (bounded in count and time) and measures latency from
   each request's scheduled send time, so a slow server cannot hide its queueing.
   Target: p99 <= 50 ms at 1,000 requests per second on one worker; the report also
   gives the rate at which p99 crosses 50 ms.

Run: python tests/bench/bench_ingestion.py [--rows N] [--rates 250,500,1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import pyarrow.csv as pa_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_csv import emit, generate
from tests.bench.benchkit import cpu_model
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port
from trueup.platform.secrets import CredentialSealer
from trueup.vendors.webhooks import signed_headers

API_KEY = "tu_bench_ingestion_key_0123456789"
TENANT = "bench"
RATIO_TARGET = 10.0
PEAK_RSS_TARGET_MB = 1024.0
P99_TARGET_MS = 50.0
#: No load step may run longer than this, whatever its rate.
STEP_TIME_LIMIT_SECONDS = 60.0


BENCH_CREDENTIAL_KEY = CredentialSealer.generate_key()


def _env(nats_url: str, data: Path, service: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRUEUP_") or key == "TRUEUP_TEST_POSTGRES_URL"
    }
    env.update(
        {
            "TRUEUP_NATS_URL": nats_url,
            "TRUEUP_DATA_DIR": str(data),
            "TRUEUP_DATABASE_URL": f"sqlite+aiosqlite:///{data / (service + '.db')}",
            "TRUEUP_HTTP_PORT": str(port),
            "TRUEUP_LOG_LEVEL": "WARNING",
            "TRUEUP_ENVIRONMENT": "test",
            # vendor_ingestion seals webhook secrets and connector credentials.
            "TRUEUP_CREDENTIAL_KEYS": BENCH_CREDENTIAL_KEY,
            **extra,
        }
    )
    return env


@asynccontextmanager
async def service(
    name: str, env: dict[str, str], port: int
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """Run `python -m trueup.<name>` until its /readyz answers; stop it afterwards."""
    log = open(Path(env["TRUEUP_DATA_DIR"]) / f"{name}.log", "wb")  # noqa: SIM115, ASYNC230
    process = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", f"trueup.{name}"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {log.name}")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"{name} not ready; see {log.name}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def usage_events(nats_url: str) -> tuple[int, int]:
    """(messages, bytes) in the USAGE stream."""
    connection = await nats.connect(nats_url)
    try:
        info = await connection.jetstream().stream_info("USAGE")
        return int(info.state.messages), int(info.state.bytes)
    finally:
        await connection.close()


async def csv_benchmark(
    gateway: str, nats_url: str, path: Path, rows: int, ingestion_pid: int
) -> tuple[list[str], bool]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=600) as client:
        started = time.perf_counter()
        with path.open("rb") as handle:
            uploaded = await client.post(
                "/api/v1/imports",
                files={"file": ("distributor-export.csv", handle, "text/csv")},
                data={"vendor": "distributor"},
            )
        uploaded.raise_for_status()
        upload_s = time.perf_counter() - started
        import_id = uploaded.json()["import_id"]
        body = {
            "mapping": {
                "account_column": "Customer Name",
                "account_id_column": "Customer Id",
                "sku_column": "SKU",
                "quantity_mode": "sum_per_sku",
                "quantity_column": "Quantity",
                "price_column": "Unit Price",
            }
        }
        committed = await client.post(f"/api/v1/imports/{import_id}/commit", json=body)
        if committed.status_code != 202:
            raise RuntimeError(committed.text)
        commit_s = time.perf_counter() - started
        while True:
            job = (await client.get(f"/api/v1/imports/{import_id}?usage_limit=0")).json()
            if job["status"] in ("completed", "failed", "unchanged"):
                break
            await asyncio.sleep(0.05)
        if job["status"] != "completed":
            raise RuntimeError(json.dumps(job)[:2000])
        stored_s = time.perf_counter() - started
        pairs = job["usage_total"]
        expected_events = math.ceil(pairs / 1000)
        while (await usage_events(nats_url))[0] < expected_events:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        published_s = time.perf_counter() - started
        ingestion_rss = peak_rss_mb(ingestion_pid)
        events, event_bytes = await usage_events(nats_url)

        stored: dict[tuple[str, str], Decimal] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"vendor": "distributor", "limit": 5000}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/api/v1/usage", params=params)).json()
            for item in page["items"]:
                stored[(item["vendor_account_id"], item["sku"])] = Decimal(item["quantity"])
            cursor = page["next_cursor"]
            if not cursor:
                break

    started = time.perf_counter()
    table = pa_csv.read_csv(path)
    baseline = table.to_pandas().groupby(["Customer Id", "SKU"])["Quantity"].sum()
    baseline_s = time.perf_counter() - started
    expected = {key: Decimal(int(value)) for key, value in baseline.items()}
    if stored != expected:
        raise RuntimeError("MISMATCH: stored usage differs from the pandas baseline")
    if job["counts"]["rows_imported"] != rows:
        raise RuntimeError(f"MISMATCH: imported {job['counts']['rows_imported']} rows")

    ratio = published_s / baseline_s
    lines = [
        f"| upload through the gateway (object store, inspect) | {upload_s:.2f} s | |",
        f"| + commit (validates every row) | {commit_s:.2f} s | |",
        f"| + import (usage stored, job completed) | {stored_s:.2f} s | |",
        f"| + usage events published ({events} events, {event_bytes / 1e6:.1f} MB) |"
        f" {published_s:.2f} s | |",
        f"| pyarrow read_csv + pandas group-by-sum | {baseline_s:.2f} s | |",
        f"| ratio end to end / baseline | {ratio:.2f}x | <= {RATIO_TARGET:.0f}x |",
        f"| peak RSS of the ingestion process | {ingestion_rss:.0f} MB |"
        f" <= {PEAK_RSS_TARGET_MB:.0f} MB |",
        f"| account/SKU pairs stored | {pairs:,} | |",
    ]
    return lines, ratio <= RATIO_TARGET and ingestion_rss <= PEAK_RSS_TARGET_MB


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client: pre-built requests, Content-Length replies.

    httpx costs about a millisecond of CPU per request; on a small machine the sender
    would then measure itself rather than the service.
    """

    def __init__(self, host: str, port: int, connections: int) -> None:
        self.host, self.port, self.size = host, port, connections
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self.pool.empty():
            _reader, writer = self.pool.get_nowait()
            writer.close()

    async def send(self, request: bytes) -> int:
        reader, writer = await self.pool.get()
        try:
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            return int(status_line.split()[1])
        except Exception:
            writer.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            raise
        finally:
            self.pool.put_nowait((reader, writer))


async def webhook_step(
    host: str, port: int, path: str, secret: str, rate: int, seconds: float, step: int
) -> tuple[int, list[float], int]:
    """Send `rate * seconds` signed webhooks at `rate`/s; latencies in ms, failures."""
    count = int(rate * seconds)
    latencies: list[float] = []
    failures = 0
    reasons: dict[str, int] = {}

    def signed(index: int) -> bytes:
        body = json.dumps(
            {
                "records": [
                    {
                        "account_id": f"org-{index % 500}",
                        "sku": f"agent-{step}",
                        "quantity": str(index % 97),
                    }
                ]
            }
        ).encode()
        headers = signed_headers(secret, body, webhook_id=f"msg_{step}_{index}")
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        head += "Content-Type: application/json\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    # Signed before the clock starts: the sender's own work must not look like latency.
    prepared = [signed(index) for index in range(count)]
    client = RawHttp(host, port, connections=min(256, max(16, rate // 10)))
    await client.open()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one(index: int) -> None:
        nonlocal failures
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status = await client.send(prepared[index])
            if status != 202:
                failures += 1
                reasons[str(status)] = reasons.get(str(status), 0) + 1
        except Exception as error:
            failures += 1
            reasons[repr(error)] = reasons.get(repr(error), 0) + 1
        latencies.append((loop.time() - scheduled) * 1000)

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    _done, pending = await asyncio.wait(tasks, timeout=STEP_TIME_LIMIT_SECONDS)
    for task in pending:
        task.cancel()
    if pending:
        failures += len(pending)
        reasons["no answer within the step's time limit"] = len(pending)
        latencies.extend([STEP_TIME_LIMIT_SECONDS * 1000] * len(pending))
    await client.close()
    for reason, times in reasons.items():
        sys.stderr.write(f"{rate} req/s: {times} x {reason}\n")
    return count, latencies, failures


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def webhook_benchmark(
    gateway: str, port: int, pid: int, rates: list[int], seconds: float
) -> tuple[list[str], bool]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers) as client:
        issued = (await client.post("/api/v1/webhooks", json={"vendor": "edr"})).json()
    # Warm up (connections, caches, the writer's first transaction); not reported.
    await webhook_step(
        "127.0.0.1", port, issued["endpoint"]["path"], issued["secret"], 100, 1.0, 999
    )
    lines: list[str] = []
    at_target: float | None = None
    crossing: int | None = None
    for step, rate in enumerate(rates):
        cpu_before = cpu_seconds(pid)
        count, latencies, failures = await webhook_step(
            "127.0.0.1", port, issued["endpoint"]["path"], issued["secret"], rate, seconds, step
        )
        cpu = (cpu_seconds(pid) - cpu_before) / count * 1000
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        lines.append(
            f"| {rate} req/s x {seconds:.0f} s | {count} | {failures} |"
            f" {p50:.1f} ms | {p99:.1f} ms | {cpu:.2f} ms |"
        )
        if rate == 1000:
            at_target = p99
        if p99 > P99_TARGET_MS and crossing is None:
            crossing = rate
        await asyncio.sleep(1.0)  # let the outbox relay drain between steps
    lines.append("")
    lines.append(
        "p99 crosses 50 ms at: "
        + (
            f"{crossing} req/s"
            if crossing is not None
            else f"none of the rates up to {rates[-1]} req/s"
        )
    )
    return lines, at_target is not None and at_target <= P99_TARGET_MS


async def run(arguments: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        path = root / "distributor-export.csv"
        generate(path, arguments.rows)
        size_mb = path.stat().st_size / 1_000_000
        server = EmbeddedNats(root / "nats", free_port())
        server.start()
        await server.wait_ready()
        try:
            gateway_port, ingestion_port = free_port(), free_port()
            gateway_env = _env(
                server.url,
                root,
                "gateway",
                gateway_port,
                TRUEUP_BOOTSTRAP_TENANT_ID=TENANT,
                TRUEUP_BOOTSTRAP_API_KEY=API_KEY,
                TRUEUP_RATE_LIMIT_PER_MINUTE="100000",
            )
            ingestion_env = _env(server.url, root, "vendor_ingestion", ingestion_port)
            async with (
                service("vendor_ingestion", ingestion_env, ingestion_port) as ingestion,
                service("gateway", gateway_env, gateway_port),
            ):
                gateway = f"http://127.0.0.1:{gateway_port}"
                csv_lines, csv_ok = await csv_benchmark(
                    gateway, server.url, path, arguments.rows, ingestion.pid
                )
                rates = [int(r) for r in arguments.rates.split(",")]
                hook_lines, hooks_ok = await webhook_benchmark(
                    gateway, ingestion_port, ingestion.pid, rates, arguments.seconds
                )
            for log in sorted(root.glob("*.log")):  # noqa: ASYNC240 - after the run
                text = log.read_text()
                problems = [line for line in text.splitlines() if "error" in line.lower()]
                sys.stderr.write(f"{log.name}: {len(problems)} lines mention errors\n")
                sys.stderr.write("\n".join(problems[:5]) + "\n")
        except BaseException:
            for log in sorted(root.glob("*.log")):  # noqa: ASYNC240 - reporting a failure
                sys.stderr.write(f"== {log.name}\n{log.read_text()[-4000:]}\n")
            raise
        finally:
            server.stop()

    emit(f"vendor_ingestion benchmark on {cpu_model()}, {os.cpu_count()} CPUs, SQLite")
    emit("")
    emit(f"CSV import: {arguments.rows:,} rows, {size_mb:.1f} MB, end to end through the API")
    emit("")
    emit("| measure | value | target |")
    emit("| --- | --- | --- |")
    for line in csv_lines:
        emit(line)
    emit("")
    emit("Signed webhooks, one usage record each, one worker, open loop from 127.0.0.1")
    emit("")
    emit("| load | requests | failed | p50 | p99 | service CPU per request |")
    emit("| --- | --- | --- | --- | --- | --- |")
    for line in hook_lines:
        emit(line)
    return 0 if csv_ok and hooks_ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rates", default="100,250,500,750,1000,1500")
    parser.add_argument("--seconds", type=float, default=5.0)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
