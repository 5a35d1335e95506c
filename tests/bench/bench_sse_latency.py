"""Event → card visible through the gateway: publish of a usage report to the SSE event
that names the card it changed, at several rates over many tenants (issue #17).

Runs nats-server, reconciliation and the gateway as real processes (SQLite, or PostgreSQL
with `--postgres-url`). Seeds `--tenants` tenants as psa_sync would (11 accounts of 5 line
items each, through the PSA stream), maps every account with a first usage report, and
gives each tenant a viewer API key in the gateway's database (the gateway's own
`ensure_tenant` / `create_api_key`, as the tests do). Once reconciliation has published
what the seeding left in its outbox, the benchmark opens `GET /api/v1/events` for
`--streams` of the tenants (all by default), one connection each, and for each `--rate`
publishes webhook-sized usage reports (one vendor account, two SKUs with new counts, as
vendor_ingestion publishes a webhook on `usage.<tenant>.reported.v1`) for `--seconds`,
spread at random over the streamed tenants, after an unmeasured `--warmup` at the lowest
rate. Each rate's backlog is drained before the next.

Latency is the time from just before the publish to the arrival of the first
`cards.changed` SSE frame of that tenant naming a card of that vendor account's PSA
account, both read on this process's clock. Only one report per (tenant, account) is
timed at a time, so a frame is matched to exactly one report; when the chosen tenant's ten
timed accounts are all in flight, the report goes untimed to its eleventh account instead,
so the offered rate never waits for the system. A timed report not seen within `--grace`
seconds after its phase counts as not seen in time (slower than any seen; with a backlog it
is still queued in reconciliation, nothing is lost). The same reports are
also timed to reconciliation's `cards.changed` on NATS (what the gateway adds is the
difference), and the CPU each process used is printed.

The goal is p99 <= 500 ms at 500 reports/s over 200 tenants; the script exits 1 when the
p99 at the highest rate given is above 500 ms (counting those not seen in time). The default is
a short run (50 tenants, 5 s per rate); the issue's scale is `--tenants 200`.

Usage: python tests/bench/bench_sse_latency.py [--rate R ...] [--tenants N] [--streams N]
       [--seconds S] [--warmup S] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js import JetStreamContext

# Run as a script, so the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_services import postgres_schemas, publish, stop_stack
from tests.bench.benchkit import (
    cpu_model,
    cpu_seconds,
    psa_sync,
    start_nats,
    usage_report,
    wait_ready,
)
from trueup.contracts import Envelope, wrap
from trueup.contracts import messages as m
from trueup.contracts.streams import stream_for
from trueup.devstack.runtime.nats_server import free_port
from trueup.gateway.identity.principal import Role
from trueup.gateway.identity.service import create_api_key, ensure_tenant
from trueup.platform.database import Database

ACCOUNTS = 10
# One more account per tenant takes the reports published while every timed account of the
# chosen tenant is in flight, so the offered rate never waits for the system under test;
# its cards are never matched to a timed report.
SPARE = ACCOUNTS
SKUS = 5
GOAL_MS = 500.0
SEED_TIMEOUT = 600.0


def tenant_name(number: int) -> str:
    return f"sse-{number:03d}"


@dataclass
class Phase:
    rate: float
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    """Publish to SSE frame, of the reports seen."""
    to_event: list[float] = field(default_factory=list)
    """Publish to reconciliation's `cards.changed` on NATS, of the same reports."""
    lost: int = 0
    """Timed reports whose frame had not come when the grace ended."""
    started: float = 0.0
    timeline: list[tuple[float, float]] = field(default_factory=list)
    """(publish time into the phase, latency) of each report seen."""
    untimed: int = 0
    """Reports sent to the spare account, to keep the rate, and not timed."""
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    """Share of one core each process used during the phase (its publishing and drain)."""


class Probe:
    """Publishes reports and matches the SSE frames that show their cards."""

    def __init__(self, js: JetStreamContext, tenants: list[str]) -> None:
        self.js = js
        self.tenants = tenants
        self.rng = random.Random(17)
        # card id -> (tenant, account), from the gateway's own card list.
        self.card_account: dict[str, tuple[str, int]] = {}
        # (tenant, account) -> publish time of the report in flight, and when its
        # `cards.changed` event passed on NATS (on the way to the gateway).
        self.in_flight: dict[tuple[str, int], float] = {}
        self.event_at: dict[tuple[str, int], float] = {}
        self.counts: dict[tuple[str, int, int], int] = {}
        self.phase: Phase | None = None
        self.frames = 0
        self.sequence = 0

    def _owners(self, tenant: str, card_ids: list[str]) -> set[tuple[str, int]]:
        owners = {self.card_account.get(card_id) for card_id in card_ids}
        return {o for o in owners if o is not None and o[0] == tenant and o in self.in_flight}

    def on_event(self, tenant: str, card_ids: list[str], at: float) -> None:
        """Reconciliation's `cards.changed`, as it passes on NATS."""
        for owner in self._owners(tenant, card_ids):
            self.event_at.setdefault(owner, at)

    def on_frame(self, tenant: str, data: dict[str, Any], at: float) -> None:
        self.frames += 1
        for owner in self._owners(tenant, data.get("card_ids", [])):
            published = self.in_flight.pop(owner)
            event_at = self.event_at.pop(owner, None)
            if self.phase is not None:
                self.phase.latencies.append(at - published)
                self.phase.timeline.append((published - self.phase.started, at - published))
                if event_at is not None:
                    self.phase.to_event.append(event_at - published)

    def _pick(self) -> tuple[str, int] | None:
        for _ in range(20):
            pair = (self.rng.choice(self.tenants), self.rng.randrange(ACCOUNTS))
            if pair not in self.in_flight:
                return pair
        return None

    def _report(self, tenant: str, account: int) -> tuple[str, bytes, str]:
        counts: dict[int, int] = {}
        for sku in self.rng.sample(range(SKUS), 2):
            old = self.counts.get((tenant, account, sku), 10)
            # Always a new count, so the report changes its cards.
            new = (old + self.rng.randrange(1, 40)) % 60
            self.counts[(tenant, account, sku)] = new
            counts[sku] = new
        self.sequence += 1
        report = usage_report(
            {account: counts}, f"sse-{self.sequence}", replace=False, source=m.UsageSource.WEBHOOK
        )
        envelope = wrap(report, tenant_id=tenant)
        subject = m.subject_for(m.UsageReported, tenant)
        return subject, envelope.model_dump_json().encode(), envelope.event_id

    async def run(self, rate: float, seconds: float, grace: float) -> Phase:
        phase = self.phase = Phase(rate)
        pending: set[asyncio.Task[Any]] = set()
        started = phase.started = time.monotonic()
        while time.monotonic() - started < seconds:
            pair = self._pick()
            if pair is None:
                pair = (self.rng.choice(self.tenants), SPARE)
                phase.untimed += 1
            subject, body, event_id = self._report(*pair)
            if pair[1] != SPARE:
                self.in_flight[pair] = time.monotonic()
            task = asyncio.create_task(
                self.js.publish(
                    subject,
                    body,
                    stream=stream_for(subject).name,
                    headers={"Nats-Msg-Id": event_id},
                )
            )
            pending.add(task)
            task.add_done_callback(pending.discard)
            phase.sent += 1
            # Always yield: the SSE readers run on this loop too, even when behind schedule.
            await asyncio.sleep(max(0.0, started + phase.sent / rate - time.monotonic()))
        phase.seconds = time.monotonic() - started
        if pending:
            await asyncio.gather(*pending)
        for _ in range(int(grace / 0.05)):
            if not self.in_flight:
                break
            await asyncio.sleep(0.05)
        phase.lost = len(self.in_flight)
        self.in_flight.clear()
        self.event_at.clear()
        self.phase = None
        phase.latencies.sort()
        phase.to_event.sort()
        return phase


async def read_stream(
    client: httpx.AsyncClient, tenant: str, key: str, probe: Probe, opened: asyncio.Event
) -> None:
    """Read one tenant's SSE stream until cancelled."""
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    async with client.stream("GET", "/api/v1/events", headers=headers) as response:
        response.raise_for_status()
        event = ""
        async for line in response.aiter_lines():
            if not opened.is_set():
                opened.set()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "cards.changed":
                probe.on_frame(tenant, json.loads(line[5:]), time.monotonic())
            elif not line:
                event = ""


async def seed_keys(url: str, schema: str | None, tenants: list[str]) -> dict[str, str]:
    database = Database(url, schema)
    keys: dict[str, str] = {}
    try:
        async with database.transaction() as session:
            for tenant in tenants:
                await ensure_tenant(session, tenant, f"SSE bench {tenant}")
                _row, keys[tenant] = await create_api_key(session, tenant, "sse", Role.VIEWER)
    finally:
        await database.engine.dispose()
    return keys


async def drained(js: JetStreamContext, stream: str, durable: str) -> None:
    deadline = time.monotonic() + SEED_TIMEOUT
    while True:
        info = await js.consumer_info(stream, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{durable} did not drain in {SEED_TIMEOUT:.0f} s")
        await asyncio.sleep(0.1)


async def quiet(js: JetStreamContext, stream: str, still: float = 3.0) -> None:
    """Wait until nothing has been added to `stream` for `still` seconds."""
    deadline = time.monotonic() + SEED_TIMEOUT
    last = (await js.stream_info(stream)).state.last_seq
    since = time.monotonic()
    while time.monotonic() - since < still:
        if time.monotonic() > deadline:
            raise SystemExit(f"{stream} did not go quiet in {SEED_TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)
        now = (await js.stream_info(stream)).state.last_seq
        if now != last:
            last, since = now, time.monotonic()


async def settled(js: JetStreamContext) -> None:
    """Every report applied and its `cards.changed` published."""
    await drained(js, "USAGE", "reconciliation-usage")
    await quiet(js, "RECON", still=1.0)


async def card_index(
    client: httpx.AsyncClient, tenants: list[str], keys: dict[str, str]
) -> dict[str, tuple[str, int]]:
    """Every card of the tenants with the PSA account it belongs to."""
    index: dict[str, tuple[str, int]] = {}
    for tenant in tenants:
        response = await client.get(
            "/api/v1/cards",
            params={"limit": 5000, "include_hidden": "true"},
            headers={"Authorization": f"Bearer {keys[tenant]}"},
        )
        response.raise_for_status()
        for item in response.json()["items"]:
            account = int(item["account_name"].rsplit(" ", 1)[1])
            index[item["card_id"]] = (tenant, account)
    return index


async def measure(
    nats_url: str,
    gateway_url: str,
    keys: dict[str, str],
    pids: dict[str, int],
    args: argparse.Namespace,
) -> list[Phase]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    tenants = sorted(keys)
    streamed = tenants[: args.streams or len(tenants)]
    try:
        for number, tenant in enumerate(tenants):
            for payload in psa_sync(ACCOUNTS + 1, SKUS, sync_id=f"s{number}"):
                await publish(js, tenant, payload)
        await drained(js, "PSA", "reconciliation-psa")
        for tenant in tenants:
            first = usage_report(
                {a: dict.fromkeys(range(SKUS), 10) for a in range(ACCOUNTS + 1)},
                f"first-{tenant}",
                replace=True,
            )
            await publish(js, tenant, first)
        await drained(js, "USAGE", "reconciliation-usage")
        # Seeding leaves thousands of events (cards, mappings) in reconciliation's outbox;
        # a report's event would queue behind them.
        await quiet(js, "RECON")

        limits = httpx.Limits(max_connections=len(streamed) + 10)
        timeout = httpx.Timeout(30.0, read=None)
        async with httpx.AsyncClient(
            base_url=gateway_url, limits=limits, timeout=timeout
        ) as client:
            probe = Probe(js, streamed)
            probe.card_account = await card_index(client, streamed, keys)

            async def on_cards_changed(msg: Any) -> None:
                envelope = Envelope[m.CardsChanged].model_validate_json(msg.data)
                probe.on_event(envelope.tenant_id, envelope.payload.card_ids, time.monotonic())

            await nc.subscribe(m.spec_for(m.CardsChanged).subject, cb=on_cards_changed)
            with_cards = {tenant for tenant, _account in probe.card_account.values()}
            missing = [t for t in streamed if t not in with_cards]
            if missing:
                raise SystemExit(f"{len(missing)} tenants have no cards: seeding failed")
            openings = [asyncio.Event() for _ in streamed]
            readers = [
                asyncio.create_task(read_stream(client, tenant, keys[tenant], probe, opened))
                for tenant, opened in zip(streamed, openings, strict=True)
            ]
            try:
                await asyncio.wait_for(asyncio.gather(*(o.wait() for o in openings)), 60)
                # Unmeasured: first requests, lazy imports and caches of every process.
                if args.warmup > 0:
                    await probe.run(min(args.rate), args.warmup, args.grace)
                    await settled(js)
                phases = []
                for rate in args.rate:
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    started = time.monotonic()
                    phase = await probe.run(rate, args.seconds, args.grace)
                    # The backlog of one rate, and its frames, must be gone before the next
                    # is measured: a late frame would match a new report of its account.
                    await settled(js)
                    elapsed = time.monotonic() - started
                    phase.cpu = {
                        name: (cpu_seconds(pid) - before[name]) / elapsed
                        for name, pid in pids.items()
                    }
                    phases.append(phase)
            finally:
                for reader in readers:
                    reader.cancel()
                await asyncio.gather(*readers, return_exceptions=True)
        dead = (await js.stream_info("DLQ")).state.messages
        if dead:
            raise SystemExit(f"{dead} events were dead-lettered: the figures are not valid")
        return phases
    finally:
        await nc.close()


def percentile_ms(phase: Phase, share: float) -> float:
    """The share-th latency of every timed report; one not seen is slower than any seen."""
    rank = max(1, int((phase.sent - phase.untimed) * share + 0.999999)) - 1
    if rank >= len(phase.latencies):
        return float("inf")
    return phase.latencies[rank] * 1000


def plain_ms(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[max(1, int(len(values) * share + 0.999999)) - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[50.0, 200.0, 500.0],
        help="reports/s, one phase each",
    )
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument(
        "--streams", type=int, default=0, help="tenants whose SSE stream is open (0: all)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="unmeasured seconds at the lowest rate first"
    )
    parser.add_argument(
        "--timeline", action="store_true", help="print the slowest report of every second"
    )
    parser.add_argument("--grace", type=float, default=10.0, help="wait for late frames (s)")
    parser.add_argument(
        "--replicas", type=int, default=1, help="reconciliation processes (PostgreSQL only)"
    )
    parser.add_argument("--postgres-url", help="run reconciliation and the gateway on this")
    args = parser.parse_args()
    if args.replicas > 1 and not args.postgres_url:
        parser.error("--replicas above 1 needs --postgres-url (one SQLite file per process)")
    tmp, nats_server, env = start_nats("trueup-sse-")
    schemas = (
        asyncio.run(postgres_schemas(args.postgres_url, ("reconciliation", "gateway")))
        if args.postgres_url
        else {}
    )
    env |= {
        "TRUEUP_RATE_LIMIT_PER_MINUTE": "100000000",
        "TRUEUP_JWT_SECRETS": secrets.token_urlsafe(32),
    }
    service_env: dict[str, dict[str, str]] = {}
    for service in ("reconciliation", "gateway"):
        service_env[service] = {**env, "TRUEUP_HTTP_PORT": str(free_port())}
        if schemas:
            url, schema = schemas[service]
            service_env[service] |= {
                "TRUEUP_DATABASE_URL": url,
                "TRUEUP_DATABASE_SCHEMA": schema,
            }
    tenants = [tenant_name(t) for t in range(args.tenants)]
    processes: list[subprocess.Popen[bytes]] = []
    load_before = os.getloadavg()[0]
    try:
        for service in ("reconciliation", "gateway"):
            subprocess.run(
                [sys.executable, "-m", f"trueup.{service}", "migrate"],
                env=service_env[service],
                check=True,
            )
        gateway_db = (
            schemas["gateway"] if schemas else (f"sqlite+aiosqlite:///{tmp / 'gateway.db'}", None)
        )
        keys = asyncio.run(seed_keys(gateway_db[0], gateway_db[1], tenants))
        # Replicas of reconciliation share its durable consumers, as pods of one
        # Deployment do.
        started = [("gateway", service_env["gateway"])] + [
            (
                f"reconciliation-{replica}" if args.replicas > 1 else "reconciliation",
                {**service_env["reconciliation"], "TRUEUP_HTTP_PORT": str(free_port())},
            )
            for replica in range(args.replicas)
        ]
        for name, process_env in started:
            module = "trueup.gateway" if name == "gateway" else "trueup.reconciliation"
            processes.append(subprocess.Popen([sys.executable, "-m", module], env=process_env))
        for _name, process_env in started:
            wait_ready(f"http://127.0.0.1:{process_env['TRUEUP_HTTP_PORT']}/readyz")
        gateway_url = f"http://127.0.0.1:{service_env['gateway']['TRUEUP_HTTP_PORT']}"
        assert nats_server.process is not None
        pids = {name: process.pid for (name, _env), process in zip(started, processes, strict=True)}
        pids |= {"nats-server": nats_server.process.pid, "this script": os.getpid()}
        phases = asyncio.run(measure(nats_server.url, gateway_url, keys, pids, args))
    finally:
        stop_stack(processes, nats_server, tmp, args.postgres_url, schemas)

    streams = args.streams or args.tenants
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(
        f"{'PostgreSQL' if schemas else 'SQLite'}; {args.replicas} reconciliation "
        f"process(es); {args.tenants} tenants, SSE streams open "
        f"for {streams}; {args.seconds:.0f} s per rate; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n"
    )
    print(
        "| rate | sent (achieved /s) | timed | seen | not seen in time | publish → SSE p50 / p99 "
        "| of which publish → `cards.changed` on NATS p50 / p99 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for phase in phases:
        p50, p99 = percentile_ms(phase, 0.5), percentile_ms(phase, 0.99)
        e50, e99 = plain_ms(phase.to_event, 0.5), plain_ms(phase.to_event, 0.99)
        print(
            f"| {phase.rate:.0f} /s | {phase.sent:,} ({phase.sent / phase.seconds:.0f} /s) "
            f"| {phase.sent - phase.untimed:,} | {len(phase.latencies):,} | {phase.lost:,} "
            f"| {p50:,.0f} / {p99:,.0f} ms | {e50:,.0f} / {e99:,.0f} ms |"
        )
    print("\nCPU during each phase and its drain (share of one core):")
    for phase in phases:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in phase.cpu.items())
        print(f"- {phase.rate:.0f} /s: {shares}")
    if args.timeline:
        for phase in phases:
            worst: dict[int, float] = {}
            for offset, latency in phase.timeline:
                worst[int(offset)] = max(worst.get(int(offset), 0.0), latency)
            seconds = ", ".join(f"{t}s {worst[t] * 1000:,.0f}" for t in sorted(worst))
            print(f"- {phase.rate:.0f} /s, slowest report by second of publishing (ms): {seconds}")
    top = max(phases, key=lambda p: p.rate)
    top_p99 = percentile_ms(top, 0.99)
    print(f"\np99 at {top.rate:.0f} /s: {top_p99:.0f} ms (goal <= {GOAL_MS:.0f} ms at 500 /s)")
    return 0 if top_p99 <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
