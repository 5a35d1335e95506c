"""Usage under load while reconciliation is SIGKILLed and NATS and PostgreSQL restart:
an exact ledger.

Everything is real and separate: nats-server with JetStream (from the wheel, its own
store), `python -m trueup.reconciliation` as a subprocess on PostgreSQL (where
`TRUEUP_TEST_POSTGRES_URL` is set) or SQLite. Tenants are seeded through the PSA stream as
psa_sync would; then webhook-sized usage reports (one vendor account's new counts) are
published at a steady rate while the reconciliation process is killed and restarted,
the NATS server is stopped and started again and (on PostgreSQL) the database goes down
and comes back as in a restart (`postgres_outage.py`). At the end:

- no usage is lost: every (tenant, vendor account, SKU) holds the last count published
  for it, although reports killed in flight were redelivered after later ones;
- every card equals a recompute from scratch (which then changes nothing);
- nothing was dead-lettered.

Prints the publish rate, the drain time and publish-to-card-change latencies. Run with
`./task test-load` (`TRUEUP_LOAD_PROFILE=full` for the long run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from tests.bench.benchkit import psa_sync, usage_report
from tests.conftest import Databases, _database_params
from tests.load.postgres_outage import PostgresOutage
from trueup.contracts import Envelope, Payload, wrap
from trueup.contracts import messages as m
from trueup.contracts.streams import stream_for
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port
from trueup.platform.database import Database
from trueup.reconciliation import index_cache, recompute
from trueup.reconciliation.index_cache import TenantIndexCache
from trueup.reconciliation.models import Usage
from trueup.reconciliation.repository import Repository

pytestmark = [pytest.mark.load, pytest.mark.timeout(1200)]

ACCOUNTS = 10
SKUS = 5
POSTGRES_DOWN_SECONDS = 3.0


@dataclass(frozen=True)
class Profile:
    tenants: int
    rate: float
    """Usage reports published per second."""
    seconds: float
    kills: int
    nats_restarts: int
    postgres_restarts: int
    """Only where the run is on PostgreSQL; SQLite has no server to restart."""


PROFILES = {
    "short": Profile(
        tenants=20, rate=60, seconds=40, kills=1, nats_restarts=1, postgres_restarts=1
    ),
    "full": Profile(
        tenants=200, rate=200, seconds=300, kills=4, nats_restarts=2, postgres_restarts=2
    ),
}


@pytest.fixture(scope="module", params=_database_params())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str | None]]:
    factory = Databases(request.param, tmp_path_factory.mktemp("load-db"))
    url, schema = asyncio.run(factory.for_service("reconciliation"))
    yield url, schema
    asyncio.run(factory.drop())


class Reconciliation:
    """`python -m trueup.reconciliation` as a process that can be killed and restarted."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.port = env["TRUEUP_HTTP_PORT"]

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trueup.reconciliation"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
                    if answer.status_code == 200:
                        return
                await asyncio.sleep(0.2)
        pytest.fail(f"reconciliation not ready in {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class Ledger:
    """What was published: the last count of every (tenant, vendor account, SKU)."""

    last: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    published_at: dict[str, float] = field(default_factory=dict)
    publish_retries: int = 0

    def record(self, tenant: str, report: m.UsageReported) -> None:
        for account in report.replaces_accounts:
            for key in [k for k in self.last if k[:2] == (tenant, account)]:
                del self.last[key]
        for record in report.records:
            self.last[(tenant, record.vendor_account_id, record.sku)] = record.quantity


async def _publish(js: JetStreamContext, tenant: str, payload: Payload, ledger: Ledger) -> str:
    """Publish until JetStream acknowledges; the message id makes a retry after a lost
    acknowledgement a duplicate the stream drops, never a second report."""
    envelope = wrap(payload, tenant_id=tenant)
    subject = m.subject_for(type(payload), tenant)
    body = envelope.model_dump_json().encode()
    while True:
        try:
            await js.publish(
                subject,
                body,
                stream=stream_for(subject).name,
                headers={"Nats-Msg-Id": envelope.event_id},
                timeout=2.0,
            )
            return envelope.event_id
        except Exception:
            # The server is restarting: the client reconnects by itself.
            ledger.publish_retries += 1
            await asyncio.sleep(0.2)


async def _drained(js: JetStreamContext, timeout: float) -> None:
    stream = stream_for(m.subject_for(m.UsageReported, "t")).name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            info = await js.consumer_info(stream, "reconciliation-usage")
            last = (await js.stream_info(stream)).state.last_seq
            if (
                info.num_pending == 0
                and info.num_ack_pending == 0
                and info.ack_floor.stream_seq >= last
            ):
                return
        await asyncio.sleep(0.5)
    pytest.fail(f"usage not drained in {timeout:.0f} s")


async def _dead_letters(js: JetStreamContext) -> int:
    with contextlib.suppress(Exception):
        return int((await js.stream_info("DLQ")).state.messages)
    return 0


class TestUsageUnderFailures:
    def test_no_usage_is_lost_and_every_card_is_right(
        self,
        database: tuple[str, str | None],
        tmp_path: Path,
    ) -> None:
        profile = PROFILES[os.environ.get("TRUEUP_LOAD_PROFILE", "short")]
        url, schema = database
        nats_server = EmbeddedNats(tmp_path / "nats", free_port())
        nats_server.start()
        asyncio.run(nats_server.wait_ready())
        env = {
            **os.environ,
            "TRUEUP_NATS_URL": nats_server.url,
            "TRUEUP_DATA_DIR": str(tmp_path),
            "TRUEUP_HTTP_PORT": str(free_port()),
            "TRUEUP_DATABASE_URL": url,
            "TRUEUP_LOG_LEVEL": "WARNING",
            "TRUEUP_LOG_FORMAT": "json",
            "TRUEUP_ENVIRONMENT": "test",
        }
        if schema is not None:
            env["TRUEUP_DATABASE_SCHEMA"] = schema
        subprocess.run(
            [sys.executable, "-m", "trueup.reconciliation", "migrate"], env=env, check=True
        )
        with contextlib.ExitStack() as stack:
            outage: PostgresOutage | None = None
            if url.startswith("postgresql"):
                # The service reaches PostgreSQL through the proxy that can take it down;
                # the ledger is read directly.
                outage = stack.enter_context(PostgresOutage(url))
                env["TRUEUP_DATABASE_URL"] = outage.url
            else:
                profile = replace(profile, postgres_restarts=0)
            reconciliation = Reconciliation(env, tmp_path / "reconciliation.log")
            reconciliation.start()
            try:
                report = asyncio.run(
                    self._run(profile, nats_server, reconciliation, outage, url, schema)
                )
            finally:
                reconciliation.stop()
                nats_server.stop()
        print(report)  # noqa: T201 (the report)

    async def _run(
        self,
        profile: Profile,
        nats_server: EmbeddedNats,
        reconciliation: Reconciliation,
        outage: PostgresOutage | None,
        url: str,
        schema: str | None,
    ) -> str:
        await reconciliation.ready()
        connection = await nats.connect(
            nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
        js = connection.jetstream()
        tenants = [f"load{t:03d}" for t in range(profile.tenants)]
        ledger = Ledger()
        changed_at: dict[str, float] = {}

        async def on_cards_changed(msg: Any) -> None:
            envelope = Envelope[m.CardsChanged].model_validate_json(msg.data)
            if envelope.causation_id and envelope.causation_id not in changed_at:
                changed_at[envelope.causation_id] = time.monotonic()

        await connection.subscribe(m.spec_for(m.CardsChanged).subject, cb=on_cards_changed)
        try:
            for t, tenant in enumerate(tenants):
                for payload in psa_sync(ACCOUNTS, SKUS, sync_id=f"load-{t}"):
                    await _publish(js, tenant, payload, ledger)
            # A first full report of every vendor account maps it (by its PSA hint).
            n = 0
            for tenant in tenants:
                for account in range(ACCOUNTS):
                    first = usage_report(
                        {account: dict.fromkeys(range(SKUS), 10)}, f"r{n}", replace=True
                    )
                    ledger.record(tenant, first)
                    await _publish(js, tenant, first, ledger)
                    n += 1
            await _drained(js, 300)

            rng = random.Random(17)
            kills = [profile.seconds * (k + 1) / (profile.kills + 1) for k in range(profile.kills)]
            restarts = [
                profile.seconds * (k + 0.5) / (profile.nats_restarts + 0.5)
                for k in range(profile.nats_restarts)
            ]
            # Away from the kills and NATS restarts, so each failure is seen on its own.
            postgres_restarts = [
                profile.seconds * ((k + 1) / (profile.postgres_restarts + 1) + 0.15)
                for k in range(profile.postgres_restarts)
            ]
            started = time.monotonic()
            sent = 0
            while (elapsed := time.monotonic() - started) < profile.seconds:
                if kills and elapsed >= kills[0]:
                    kills.pop(0)
                    reconciliation.kill()
                    reconciliation.start()
                if restarts and elapsed >= restarts[0]:
                    restarts.pop(0)
                    nats_server.stop()
                    await asyncio.sleep(1.0)
                    nats_server.start()
                if postgres_restarts and elapsed >= postgres_restarts[0]:
                    postgres_restarts.pop(0)
                    assert outage is not None
                    outage.restart(down_seconds=POSTGRES_DOWN_SECONDS)
                tenant = rng.choice(tenants)
                account = rng.randrange(ACCOUNTS)
                counts = {sku: rng.randrange(0, 60) for sku in rng.sample(range(SKUS), 2)}
                update = usage_report(
                    {account: counts}, f"r{n}", replace=False, source=m.UsageSource.WEBHOOK
                )
                n += 1
                ledger.record(tenant, update)
                event_id = await _publish(js, tenant, update, ledger)
                ledger.published_at[event_id] = time.monotonic()
                sent += 1
                pause = started + sent / profile.rate - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
            publish_seconds = time.monotonic() - started
            if outage is not None:
                outage.wait()
                assert outage.restarts == profile.postgres_restarts
                # A restart that cut nothing would prove nothing.
                assert outage.cut_connections > 0 or profile.postgres_restarts == 0
            await reconciliation.ready()
            drain_started = time.monotonic()
            await _drained(js, 600)
            drain_seconds = time.monotonic() - drain_started
            dead = await _dead_letters(js)
        finally:
            await connection.close()

        assert dead == 0, f"{dead} messages were dead-lettered"
        await self._check_ledger(url, schema, tenants, ledger)
        latencies = sorted(
            changed_at[e] - at for e, at in ledger.published_at.items() if e in changed_at
        )
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
        return (
            f"\n{sent} usage reports over {profile.tenants} tenants in {publish_seconds:.1f} s "
            f"({sent / publish_seconds:.0f}/s) with {profile.kills} SIGKILL(s) of "
            f"reconciliation, {profile.nats_restarts} NATS restart(s) and "
            f"{profile.postgres_restarts} PostgreSQL restart(s) "
            f"({outage.cut_connections if outage else 0} connections cut); "
            f"{ledger.publish_retries} publish retries; drained {drain_seconds:.1f} s after; "
            f"publish to cards.changed p50 {p50:.0f} ms, p99 {p99:.0f} ms "
            f"({len(latencies)} reports that changed a card)"
        )

    async def _check_ledger(
        self, url: str, schema: str | None, tenants: list[str], ledger: Ledger
    ) -> None:
        database = Database(url, schema)
        saved = index_cache.INDEXES
        index_cache.INDEXES = TenantIndexCache(budget=1_000_000)
        try:
            stored: dict[tuple[str, str, str], Decimal] = {}
            for tenant in tenants:
                async with database.transaction(tenant) as session:
                    for row in await Repository(session, tenant).all_of(Usage):
                        stored[(tenant, row.vendor_account_id, row.sku)] = row.quantity
            lost = {k: (v, stored.get(k)) for k, v in ledger.last.items() if stored.get(k) != v}
            assert not lost, (
                f"{len(lost)} counts are not the last published, e.g. {list(lost.items())[:5]}"
            )
            assert stored.keys() == ledger.last.keys()
            for tenant in tenants:
                async with database.transaction(tenant) as session:
                    changed = await recompute.recompute(session, tenant, reason="check")
                assert changed == [], f"{tenant}: a recompute from scratch changed {changed[:5]}"
        finally:
            index_cache.INDEXES = saved
            await database.dispose()
