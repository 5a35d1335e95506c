"""Usage, imports and approvals under load while every service is SIGKILLed in turn, NATS
and PostgreSQL restart and the PSA fails: an exact ledger.

Everything is real and separate: nats-server with JetStream (from the wheel, its own
store), `python -m trueup.<service>` for all six services (psa_sync, vendor_ingestion,
reconciliation, writeback, audit and the gateway) as subprocesses on PostgreSQL (where
`TRUEUP_TEST_POSTGRES_URL` is set) or SQLite, and the ConnectWise simulator as its own
process answering 10 % 500s and bursts of 429s. The usage tenants are seeded through the
PSA stream as psa_sync would; one more tenant, the approving one, connects the simulator
through the gateway (`POST /api/v1/settings/psa`) and psa_sync syncs its contracts from
it. Then, at a steady rate:

- usage reports of one vendor account's new counts: three in four straight on the usage
  stream, one in four as a signed webhook to vendor_ingestion, retried by the sender until
  accepted (as a vendor does);
- every twentieth report, a finished import, for the activity log;
- approvals of the approving tenant's cards, as an integration sends them:
  `POST /api/v1/cards/{id}/approve` on the gateway with an API key and an idempotency
  key, retried with the same key until answered;

while each of the six services is killed in turn and restarted, the NATS server is
stopped and started again and (on PostgreSQL) the database goes down and comes back as in
a restart (`postgres_outage.py`). At the end:

- no usage is lost: every (tenant, vendor account, SKU) holds the last count sent for it,
  although reports killed in flight were redelivered after later ones;
- every card equals a recompute from scratch (which then changes nothing);
- the activity log holds exactly one entry per finished import and per applied approval;
- every approval is applied, and the PSA's own write log holds exactly one change per
  approval, to the approved quantity: none lost, none doubled; the activity log holds one
  approval per card, however often a request was retried;
- nothing was dead-lettered.

Prints the rates, the drain time and publish-to-card-change latencies. Run with
`./task test-load` (`TRUEUP_LOAD_PROFILE=full` for the long run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext

from tests.bench.benchkit import finished_import, psa_sync, usage_report
from tests.conftest import Databases, _database_params
from tests.load.postgres_outage import PostgresOutage
from tests.processes import (
    ServiceProcess,
    inject_psa_faults,
    psa_simulator,
    wait_http,
    writeback_tuning,
)
from tests.writeback.harness import TODAY, cw_credentials, demo_line_items
from trueup.audit.models import Entry
from trueup.contracts import Envelope, Payload, wrap
from trueup.contracts import messages as m
from trueup.contracts.envelope import Reply
from trueup.contracts.ingest import CreateWebhookEndpoint, WebhookSecretIssued
from trueup.contracts.streams import stream_for
from trueup.devstack.psa_simulators.server import SimulatorControl
from trueup.devstack.runtime.nats_server import EmbeddedNats, free_port
from trueup.platform.database import Database
from trueup.platform.secrets import CredentialSealer
from trueup.reconciliation import index_cache, recompute
from trueup.reconciliation.index_cache import TenantIndexCache
from trueup.reconciliation.models import Usage
from trueup.reconciliation.repository import Repository
from trueup.vendors.webhooks import signed_headers
from trueup.vendors.webhooks.schemas import UsageBatch, UsagePushRecord
from trueup.writeback.models import Job

pytestmark = [pytest.mark.load, pytest.mark.timeout(1200)]

SERVICES = ("reconciliation", "audit", "writeback", "vendor_ingestion", "psa_sync", "gateway")
APPROVING = "loadpsa"
"""The tenant whose contracts psa_sync syncs from the simulator and whose cards are
approved through the gateway; it sends no usage, so every card change is an approval's."""
API_KEY = "tu_load_" + "k" * 40
ACCOUNTS = 10
SKUS = 5
POSTGRES_DOWN_SECONDS = 3.0
IMPORT_EVERY = 20
"""One finished import per this many usage reports."""
WEBHOOK_EVERY = 4
"""This many usage reports, one goes as a signed webhook to vendor_ingestion instead of
straight to the usage stream."""
WEBHOOK_SENDERS = 16
"""Webhooks in flight at once, as a vendor's delivery workers would have."""
APPROVERS = 8
"""Approval requests in flight at once."""
LINE_ITEMS_PER_APPROVAL = 2
"""The simulator's demo MSP is this many times bigger than the approvals: about two thirds
of its line items bill today on contracts with months to run, and each is approved once."""


@dataclass(frozen=True)
class Profile:
    tenants: int
    rate: float
    """Usage reports published per second."""
    seconds: float
    kill_rounds: int
    """Each round SIGKILLs every service once, one after another."""
    nats_restarts: int
    postgres_restarts: int
    """Only where the run is on PostgreSQL; SQLite has no server to restart."""
    approvals: int


PROFILES = {
    "short": Profile(
        tenants=20,
        rate=60,
        seconds=40,
        kill_rounds=1,
        nats_restarts=1,
        postgres_restarts=1,
        approvals=300,
    ),
    "full": Profile(
        tenants=200,
        rate=200,
        seconds=300,
        kill_rounds=4,
        nats_restarts=2,
        postgres_restarts=2,
        approvals=10_000,
    ),
}


@pytest.fixture(scope="module", params=_database_params())
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[str, str | None]]]:
    """(url, schema) of a fresh database per service."""
    factory = Databases(request.param, tmp_path_factory.mktemp("load-db"))
    yield {name: asyncio.run(factory.for_service(name)) for name in SERVICES}
    asyncio.run(factory.drop())


@dataclass
class Ledger:
    """What was published, to compare with what the services hold at the end."""

    last: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    """The last count of every (tenant, vendor account, SKU)."""
    published_at: dict[str, float] = field(default_factory=dict)
    imports: Counter[str] = field(default_factory=Counter)
    """Finished imports per tenant."""
    approvals: dict[str, Decimal] = field(default_factory=dict)
    """Approved quantity per PSA line item (each approved once)."""
    publish_retries: int = 0
    webhooks: int = 0
    webhook_retries: int = 0
    approval_retries: Counter[str] = field(default_factory=Counter)
    """Approval requests sent again, by why: the answer's status, or the error."""
    approval_seconds: list[float] = field(default_factory=list)
    """How long each approval took to be accepted (202), its retries included."""

    def record(self, tenant: str, report: m.UsageReported) -> None:
        for account in report.replaces_accounts:
            for key in [k for k in self.last if k[:2] == (tenant, account)]:
                del self.last[key]
        for record in report.records:
            self.last[(tenant, record.vendor_account_id, record.sku)] = record.quantity


@dataclass
class Failures:
    """When each failure happens, in seconds from the start of the load."""

    kills: list[tuple[float, str]]
    nats_restarts: list[float]
    postgres_restarts: list[float]

    @classmethod
    def spread(cls, profile: Profile) -> Failures:
        seconds = profile.seconds
        count = profile.kill_rounds * len(SERVICES)
        kills = [
            (seconds * (k + 1) / (count + 1), SERVICES[k % len(SERVICES)]) for k in range(count)
        ]
        nats_restarts = [
            seconds * (k + 0.5) / (profile.nats_restarts + 0.5)
            for k in range(profile.nats_restarts)
        ]
        # Away from the other failures, so each is seen on its own.
        postgres_restarts = [
            seconds * ((k + 1) / (profile.postgres_restarts + 1) + 0.15)
            for k in range(profile.postgres_restarts)
        ]
        return cls(kills, nats_restarts, postgres_restarts)


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


async def _settles(
    probe: Callable[[], Awaitable[Any]], expected: Any, what: str, timeout: float
) -> None:
    """Until `probe()` equals `expected`; fails with the last value seen after `timeout`.
    A count that overshoots (a duplicate) never settles, so it fails too."""
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            seen = await probe()
            if seen == expected:
                return
        await asyncio.sleep(1.0)
    if isinstance(expected, dict) and isinstance(seen, dict):
        differ = {
            key: (expected.get(key), seen.get(key))
            for key in expected.keys() | seen.keys()
            if expected.get(key) != seen.get(key)
        }
        pytest.fail(
            f"{what}: {len(differ)} differ after {timeout:.0f} s, (expected, found) e.g. "
            f"{dict(list(differ.items())[:5])}"
        )
    pytest.fail(f"{what}: expected {expected}, found {seen} after {timeout:.0f} s")


async def _webhook_endpoint(connection: Any, tenant: str) -> WebhookSecretIssued:
    """A Pax8 webhook endpoint of the tenant and its secret, asked of vendor_ingestion as
    the gateway asks it."""
    envelope = wrap(CreateWebhookEndpoint(vendor="pax8", name="load"), tenant_id=tenant)
    answer = await connection.request(
        m.subject_for(CreateWebhookEndpoint, tenant),
        envelope.model_dump_json().encode(),
        timeout=10,
    )
    reply = Reply[WebhookSecretIssued].model_validate_json(answer.data)
    assert reply.result is not None, reply.error
    return reply.result


class Webhooks:
    """Usage reports sent as a vendor sends them: signed webhooks, each retried with the
    same webhook id until vendor_ingestion answers 202 (a kill or a database restart in
    between is a connection error or a 503 to the sender), several in flight at once.

    Each record carries the time it was observed, so the order they arrive in does not
    matter: the newest observation of a count is the one kept."""

    def __init__(
        self,
        vendor_ingestion: ServiceProcess,
        endpoints: dict[str, WebhookSecretIssued],
        ledger: Ledger,
    ) -> None:
        self.base = f"http://127.0.0.1:{vendor_ingestion.env['TRUEUP_HTTP_PORT']}"
        self.endpoints = endpoints
        self.ledger = ledger
        self.http = httpx.AsyncClient(timeout=10)
        self.slots = asyncio.Semaphore(WEBHOOK_SENDERS)
        self.sent: list[asyncio.Task[None]] = []

    def send(self, tenant: str, report: m.UsageReported) -> None:
        body = (
            UsageBatch(
                records=[
                    UsagePushRecord(
                        account_id=r.vendor_account_id,
                        account_name=r.vendor_account_name,
                        sku=r.sku,
                        sku_name=r.sku_name,
                        quantity=r.quantity,
                        observed_at=r.as_of,
                    )
                    for r in report.records
                ]
            )
            .model_dump_json()
            .encode()
        )
        self.sent.append(asyncio.create_task(self._deliver(self.endpoints[tenant], body)))
        self.ledger.webhooks += 1

    async def _deliver(self, endpoint: WebhookSecretIssued, body: bytes) -> None:
        webhook_id = f"msg_{uuid.uuid4().hex}"
        async with self.slots:
            # From the first attempt: the wait for a sender is the sender's queue, not the
            # receiver's answer.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                headers = {
                    "content-type": "application/json",
                    **signed_headers(endpoint.secret, body, webhook_id=webhook_id),
                }
                with contextlib.suppress(httpx.HTTPError):
                    answer = await self.http.post(
                        self.base + endpoint.endpoint.path, content=body, headers=headers
                    )
                    if answer.status_code == 202:
                        return
                    # Anything but "try again" would be a refused delivery: a lost count.
                    assert answer.status_code in (502, 503, 504), answer.text
                self.ledger.webhook_retries += 1
                await asyncio.sleep(0.2)
        raise AssertionError(f"webhook {webhook_id} not accepted in 300 s")

    async def delivered(self) -> None:
        """Until every webhook sent is accepted; raises what refused one."""
        try:
            await asyncio.gather(*self.sent)
        finally:
            await self.http.aclose()


class Gateway:
    """The gateway as an integration uses it: an admin's API key, a JSON body."""

    def __init__(self, gateway: ServiceProcess, ledger: Ledger) -> None:
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{gateway.env['TRUEUP_HTTP_PORT']}",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=15,
        )
        self.ledger = ledger
        self.slots = asyncio.Semaphore(APPROVERS)
        self.sent: list[asyncio.Task[None]] = []

    async def connect_psa(self, url: str) -> None:
        """Connect the ConnectWise simulator as an admin does in Settings, then sync."""
        saved = await self.http.post(
            "/api/v1/settings/psa",
            json={"psa": "connectwise", "name": "ConnectWise", "credentials": cw_credentials(url)},
        )
        assert saved.status_code == 200, saved.text
        synced = await self.http.post("/api/v1/settings/psa/sync", json={"full": True})
        assert synced.status_code == 202, synced.text

    async def cards_by_line_item(self) -> dict[str, str]:
        """Card id by PSA line item id, every page."""
        found: dict[str, str] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 5000, "include_hidden": True}
            if cursor:
                params["cursor"] = cursor
            page = await self.http.get("/api/v1/cards", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            found |= {c["line_item_id"]: c["card_id"] for c in body["items"] if c["line_item_id"]}
            cursor = body.get("next_cursor")
            if not cursor:
                return found

    def approve(self, card_id: str, line_item_id: str, quantity: Decimal) -> None:
        self.ledger.approvals[line_item_id] = quantity
        self.sent.append(asyncio.create_task(self._approve(card_id, quantity)))

    async def _approve(self, card_id: str, quantity: Decimal) -> None:
        # One key per approval: a retry after a lost answer is the same approval, never a
        # second one (the gateway scopes the key by caller; reconciliation stores it with
        # the action).
        key = uuid.uuid4().hex
        body = {"quantity": str(quantity), "confirm": True}
        async with self.slots:
            started = time.monotonic()
            deadline = started + 300
            while time.monotonic() < deadline:
                try:
                    answer = await self.http.post(
                        f"/api/v1/cards/{card_id}/approve",
                        json=body,
                        headers={"Idempotency-Key": key},
                    )
                except httpx.HTTPError as exc:
                    self.ledger.approval_retries[type(exc).__name__] += 1
                else:
                    if answer.status_code == 202:
                        self.ledger.approval_seconds.append(time.monotonic() - started)
                        return
                    # A 503 is "not now" (reconciliation did not answer in time, or a
                    # database is away) and nothing was done: ask again. Anything else (a
                    # 409 from a doubled approval, a 500) fails the run.
                    assert answer.status_code in (502, 503, 504), (
                        f"approve {card_id}: {answer.status_code} {answer.text}"
                    )
                    detail = ""
                    with contextlib.suppress(ValueError, AttributeError):
                        detail = str(answer.json().get("detail", ""))
                    self.ledger.approval_retries[f"{answer.status_code} {detail[:60]}"] += 1
                await asyncio.sleep(0.2)
        raise AssertionError(f"approval of {card_id} not accepted in 300 s")

    async def approved(self) -> None:
        """Until every approval sent is accepted; raises what refused one."""
        await asyncio.gather(*self.sent)

    async def aclose(self) -> None:
        await self.http.aclose()


async def _report_progress(ledger: Ledger, approvals: int) -> None:
    """A line a minute, so that a long run that times out still says how far it got."""
    started = time.monotonic()
    while True:
        await asyncio.sleep(60)
        recent = ledger.approval_seconds[-500:]
        print(  # noqa: T201 (a long run's progress)
            f"[{time.monotonic() - started:.0f} s] {len(ledger.approval_seconds)} of "
            f"{approvals} approvals accepted (the last {len(recent)} in p50 "
            f"{_percentile(recent, 0.5):.2f} s, p99 {_percentile(recent, 0.99):.2f} s)",
            flush=True,
        )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)] if ordered else float("nan")


async def _dead_letters(js: JetStreamContext) -> int:
    with contextlib.suppress(Exception):
        return int((await js.stream_info("DLQ")).state.messages)
    return 0


class TestEverythingUnderFailures:
    def test_nothing_is_lost_or_doubled_and_every_card_is_right(
        self, databases: dict[str, tuple[str, str | None]], tmp_path: Path
    ) -> None:
        profile = PROFILES[os.environ.get("TRUEUP_LOAD_PROFILE", "short")]
        on_postgres = databases["reconciliation"][0].startswith("postgresql")
        if not on_postgres:
            profile = replace(profile, postgres_restarts=0)
        nats_server = EmbeddedNats(tmp_path / "nats", free_port())
        nats_server.start()
        asyncio.run(nats_server.wait_ready())
        credential_key = CredentialSealer.generate_key()
        line_items = profile.approvals * LINE_ITEMS_PER_APPROVAL
        with contextlib.ExitStack() as stack:
            stack.callback(nats_server.stop)
            outage = (
                stack.enter_context(PostgresOutage(databases["audit"][0])) if on_postgres else None
            )
            cw_url = stack.enter_context(
                psa_simulator(
                    "connectwise",
                    tmp_path,
                    accounts=line_items // 10,
                    line_items=line_items,
                    today=TODAY,
                )
            )
            services: dict[str, ServiceProcess] = {}
            for name in SERVICES:
                url, schema = databases[name]
                env = {
                    "TRUEUP_NATS_URL": nats_server.url,
                    "TRUEUP_DATA_DIR": str(tmp_path / name),
                    "TRUEUP_HTTP_PORT": str(free_port()),
                    # The services reach PostgreSQL through the proxy that can take it
                    # down; the ledger is read directly.
                    "TRUEUP_DATABASE_URL": outage.through(url) if outage else url,
                    "TRUEUP_LOG_LEVEL": "WARNING",
                    "TRUEUP_LOG_FORMAT": "json",
                    "TRUEUP_ENVIRONMENT": "test",
                }
                if schema is not None:
                    env["TRUEUP_DATABASE_SCHEMA"] = schema
                if name == "writeback":
                    env |= writeback_tuning()
                if name == "psa_sync":
                    # The simulator listens on loopback, as a self-hosted PSA may.
                    env["TRUEUP_OUTBOUND_ALLOW"] = writeback_tuning()["TRUEUP_OUTBOUND_ALLOW"]
                if name in ("writeback", "vendor_ingestion", "psa_sync"):
                    env["TRUEUP_CREDENTIAL_KEYS"] = credential_key
                if name == "gateway":
                    env |= {
                        "TRUEUP_BOOTSTRAP_TENANT_ID": APPROVING,
                        "TRUEUP_BOOTSTRAP_API_KEY": API_KEY,
                        "TRUEUP_JWT_SECRETS": CredentialSealer.generate_key(),
                        # An integration approving thousands of cards is one principal.
                        "TRUEUP_RATE_LIMIT_PER_MINUTE": "1000000",
                    }
                service = ServiceProcess(name, env, tmp_path / f"{name}.log")
                service.migrate()
                service.start()
                stack.callback(service.stop)
                services[name] = service
            report = asyncio.run(
                self._run(
                    profile,
                    nats_server,
                    services,
                    outage,
                    cw_url,
                    databases,
                )
            )
        print(report)  # noqa: T201 (the report)

    async def _run(
        self,
        profile: Profile,
        nats_server: EmbeddedNats,
        services: dict[str, ServiceProcess],
        outage: PostgresOutage | None,
        cw_url: str,
        databases: dict[str, tuple[str, str | None]],
    ) -> str:
        await asyncio.gather(*(service.ready() for service in services.values()))
        await wait_http(f"{cw_url}/_simulator/stats")
        psa = SimulatorControl(cw_url)
        connection = await nats.connect(
            nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
        js = connection.jetstream()
        tenants = [f"load{t:03d}" for t in range(profile.tenants)]
        ledger = Ledger()
        changed_at: dict[str, float] = {}
        line_items = profile.approvals * LINE_ITEMS_PER_APPROVAL
        items = demo_line_items(profile.approvals, accounts=line_items // 10, line_items=line_items)
        assert len(items) == profile.approvals, "the demo MSP has too few line items to approve"
        rng = random.Random(17)
        approvals = [(str(item.id), item.quantity + rng.randint(1, 9)) for item in items]
        gateway = Gateway(services["gateway"], ledger)

        approving_changes = m.subject_for(m.CardsChanged, APPROVING)

        async def on_cards_changed(msg: Any) -> None:
            # Only usage is timed; the approving tenant's events (one for a PSA batch
            # names thousands of cards) would cost the generator a parse each for nothing.
            if msg.subject == approving_changes:
                return
            envelope = Envelope[m.CardsChanged].model_validate_json(msg.data)
            if envelope.causation_id and envelope.causation_id not in changed_at:
                changed_at[envelope.causation_id] = time.monotonic()

        card_ids: dict[str, str] = {}

        def approve_next() -> None:
            line_item, quantity = approvals[len(ledger.approvals)]
            gateway.approve(card_ids[line_item], line_item, quantity)

        async def synced() -> dict[str, str]:
            cards = await gateway.cards_by_line_item()
            return {line_item: cards[line_item] for line_item, _ in approvals if line_item in cards}

        await connection.subscribe(m.spec_for(m.CardsChanged).subject, cb=on_cards_changed)
        stop_faults = asyncio.Event()
        faults: asyncio.Task[None] | None = None
        progress: asyncio.Task[None] | None = None
        try:
            await gateway.connect_psa(cw_url)
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
            # The approving tenant's first sync, from the simulator through psa_sync.
            deadline = time.monotonic() + 300
            last_error: Exception | None = None
            while len(card_ids) < len(approvals):
                assert time.monotonic() < deadline, (
                    f"{len(card_ids)} of {len(approvals)} line items have a card after 300 s; "
                    f"the last card list failed with {last_error!r}"
                )
                try:
                    card_ids |= await synced()
                except (AssertionError, httpx.HTTPError) as error:
                    last_error = error
                await asyncio.sleep(1.0)
            endpoints = {tenant: await _webhook_endpoint(connection, tenant) for tenant in tenants}
            webhooks = Webhooks(services["vendor_ingestion"], endpoints, ledger)

            faults = asyncio.create_task(
                inject_psa_faults(
                    [psa], stop_faults, lambda: len(ledger.approvals) < len(approvals)
                )
            )
            progress = asyncio.create_task(_report_progress(ledger, len(approvals)))
            failures = Failures.spread(profile)
            started = time.monotonic()
            sent = 0
            while (elapsed := time.monotonic() - started) < profile.seconds:
                await self._fail_what_is_due(elapsed, failures, services, nats_server, outage)
                tenant = rng.choice(tenants)
                account = rng.randrange(ACCOUNTS)
                counts = {sku: rng.randrange(0, 60) for sku in rng.sample(range(SKUS), 2)}
                update = usage_report(
                    {account: counts}, f"r{n}", replace=False, source=m.UsageSource.WEBHOOK
                )
                n += 1
                ledger.record(tenant, update)
                sent += 1
                if sent % WEBHOOK_EVERY == 0:
                    webhooks.send(tenant, update)
                else:
                    event_id = await _publish(js, tenant, update, ledger)
                    ledger.published_at[event_id] = time.monotonic()
                if sent % IMPORT_EVERY == 0:
                    await _publish(js, tenant, finished_import(sent), ledger)
                    ledger.imports[tenant] += 1
                # Approvals keep pace with the load, spread over the whole run.
                due = len(approvals) * min(1.0, (elapsed + 1) / profile.seconds)
                while len(ledger.approvals) < due:
                    approve_next()
                pause = started + sent / profile.rate - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
            publish_seconds = time.monotonic() - started
            await webhooks.delivered()
            webhook_seconds = time.monotonic() - started - publish_seconds
            while len(ledger.approvals) < len(approvals):
                approve_next()
            await gateway.approved()
            if outage is not None:
                outage.wait()
                assert outage.restarts == profile.postgres_restarts
                # A restart that cut nothing would prove nothing.
                assert outage.cut_connections > 0
            await asyncio.gather(*(service.ready() for service in services.values()))
            drain_started = time.monotonic()
            await _drained(js, 600)
            # Webhooks accepted last may still be in vendor_ingestion's outbox.
            await _settles(
                lambda: self._stored_usage(databases["reconciliation"], tenants),
                ledger.last,
                "usage counts by (tenant, vendor account, SKU)",
                timeout=300,
            )
            await _drained(js, 120)
            await _settles(
                lambda: self._job_statuses(databases["writeback"], APPROVING),
                {"applied": profile.approvals},
                "writeback jobs by status",
                timeout=600,
            )
            drain_seconds = time.monotonic() - drain_started
            stop_faults.set()
            await _settles(
                lambda: self._activity(databases["audit"], [*tenants, APPROVING]),
                self._expected_activity(ledger, profile.approvals),
                "activity entries by tenant and event",
                timeout=300,
            )
            dead = await _dead_letters(js)
        finally:
            stop_faults.set()
            if progress is not None:
                progress.cancel()
            if faults is not None:
                await asyncio.gather(faults, return_exceptions=True)
            await connection.close()
            await gateway.aclose()

        assert dead == 0, f"{dead} messages were dead-lettered"
        await psa.set_faults()
        psa_statuses = (await psa.stats())["statuses"]
        self._check_psa_writes(await psa.writes(), ledger, items)
        await self._check_cards(databases["reconciliation"], [*tenants, APPROVING])
        for name, service in services.items():
            assert service.kills == profile.kill_rounds, f"{name} was killed {service.kills}×"
        assert int(psa_statuses.get("500", 0)) > 0, psa_statuses
        latencies = sorted(
            changed_at[e] - at for e, at in ledger.published_at.items() if e in changed_at
        )
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
        return (
            f"\n{sent} usage reports over {profile.tenants} tenants in {publish_seconds:.1f} s "
            f"({sent / publish_seconds:.0f}/s; {ledger.webhooks} of them as signed webhooks, "
            f"{ledger.webhook_retries} webhook retries, the last accepted "
            f"{webhook_seconds:.1f} s after the last sent), "
            f"{sum(ledger.imports.values())} imports and "
            f"{profile.approvals} approvals through the gateway "
            f"({ledger.approval_retries.total()} retried: "
            f"{dict(ledger.approval_retries.most_common(4))}; accepted in "
            f"p50 {_percentile(ledger.approval_seconds, 0.5):.2f} s, "
            f"p99 {_percentile(ledger.approval_seconds, 0.99):.2f} s), "
            f"with {profile.kill_rounds} SIGKILL(s) of each of "
            f"{', '.join(SERVICES)}, {profile.nats_restarts} NATS restart(s) and "
            f"{profile.postgres_restarts} PostgreSQL restart(s) "
            f"({outage.cut_connections if outage else 0} connections cut); PSA answered "
            f"{dict(psa_statuses)}; {ledger.publish_retries} publish retries; "
            f"drained {drain_seconds:.1f} s after; "
            f"publish to cards.changed p50 {p50:.0f} ms, p99 {p99:.0f} ms "
            f"({len(latencies)} reports that changed a card)"
        )

    async def _fail_what_is_due(
        self,
        elapsed: float,
        failures: Failures,
        services: dict[str, ServiceProcess],
        nats_server: EmbeddedNats,
        outage: PostgresOutage | None,
    ) -> None:
        if failures.kills and elapsed >= failures.kills[0][0]:
            _at, name = failures.kills.pop(0)
            services[name].kill()
            services[name].start()
        if failures.nats_restarts and elapsed >= failures.nats_restarts[0]:
            failures.nats_restarts.pop(0)
            nats_server.stop()
            await asyncio.sleep(1.0)
            nats_server.start()
        if failures.postgres_restarts and elapsed >= failures.postgres_restarts[0]:
            failures.postgres_restarts.pop(0)
            assert outage is not None
            outage.restart(down_seconds=POSTGRES_DOWN_SECONDS)

    async def _job_statuses(self, database: tuple[str, str | None], tenant: str) -> dict[str, int]:
        db = Database(*database)
        try:
            async with db.transaction(tenant) as session:
                rows = await session.execute(
                    sa.select(Job.status, sa.func.count()).group_by(Job.status)
                )
                return {status: count for status, count in rows.all()}
        finally:
            await db.dispose()

    async def _activity(
        self, database: tuple[str, str | None], tenants: list[str]
    ) -> dict[tuple[str, str], int]:
        db = Database(*database)
        counted = (
            m.ImportFinished.message_type,
            m.WritebackApplied.message_type,
            m.ActionRecorded.message_type,
        )
        try:
            found: dict[tuple[str, str], int] = {}
            for tenant in tenants:
                async with db.transaction(tenant) as session:
                    rows = await session.execute(
                        sa.select(Entry.event_type, sa.func.count())
                        .where(
                            Entry.tenant_id == tenant,
                            Entry.event_type.in_(counted),
                        )
                        .group_by(Entry.event_type)
                    )
                    found |= {(tenant, kind): count for kind, count in rows.all()}
            return found
        finally:
            await db.dispose()

    def _expected_activity(self, ledger: Ledger, approvals: int) -> dict[tuple[str, str], int]:
        expected = {
            (tenant, m.ImportFinished.message_type): count
            for tenant, count in ledger.imports.items()
        }
        expected[(APPROVING, m.ActionRecorded.message_type)] = approvals
        expected[(APPROVING, m.WritebackApplied.message_type)] = approvals
        return expected

    def _check_psa_writes(
        self, writes: list[dict[str, Any]], ledger: Ledger, items: list[Any]
    ) -> None:
        """Each approval is one change in the PSA, to the approved quantity: none lost,
        none doubled, none wrong. ConnectWise writes an undated change as a PATCH of the
        addition's quantity, and a dated one (the card's effective date) as a cancel-and-add:
        a new addition of the product on the agreement and a PATCH of the old one's
        `cancelledDate`."""
        product_of = {str(item.id): (str(item.contract_id), str(item.product.id)) for item in items}
        added: Counter[tuple[str, str, Decimal]] = Counter()
        cancelled: Counter[str] = Counter()
        replaced: Counter[str] = Counter()
        replaced_to: dict[str, Decimal] = {}
        for write in writes:
            assert write["entity"] == "AgreementAddition", write
            body = write["body"]
            if write["method"] == "POST":
                agreement = write["path"].rstrip("/").split("/")[-2]
                added[(agreement, str(body["product"]["id"]), Decimal(str(body["quantity"])))] += 1
                continue
            assert write["method"] == "PATCH", write
            line = str(write["entity_id"])
            paths = [op["path"] for op in body]
            if paths == ["quantity"]:
                replaced[line] += 1
                replaced_to[line] = Decimal(str(body[0]["value"]))
            else:
                assert paths == ["cancelledDate"], write
                cancelled[line] += 1
        problems: list[str] = []
        for line, quantity in ledger.approvals.items():
            if replaced[line]:
                if replaced[line] != 1 or cancelled[line] or replaced_to[line] != quantity:
                    problems.append(
                        f"{line}: {replaced[line]} PATCH(es) to {replaced_to[line]} "
                        f"(approved {quantity}), {cancelled[line]} cancel(s)"
                    )
                continue
            new = (*product_of[line], quantity)
            if cancelled[line] != 1 or added[new] == 0:
                problems.append(
                    f"{line}: {cancelled[line]} cancel(s), {added[new]} addition(s) at {quantity}"
                )
            added[new] -= 1
        unapproved = (replaced.keys() | cancelled.keys()) - ledger.approvals.keys()
        doubled = +added
        assert not problems, f"{len(problems)} approvals differ in the PSA, e.g. {problems[:5]}"
        assert not unapproved, f"line items changed without an approval: {unapproved}"
        assert not doubled, f"additions written more than once: {doubled}"

    async def _stored_usage(
        self, database: tuple[str, str | None], tenants: list[str]
    ) -> dict[tuple[str, str, str], Decimal]:
        db = Database(*database)
        try:
            stored: dict[tuple[str, str, str], Decimal] = {}
            for tenant in tenants:
                async with db.transaction(tenant) as session:
                    for row in await Repository(session, tenant).all_of(Usage):
                        stored[(tenant, row.vendor_account_id, row.sku)] = row.quantity
            return stored
        finally:
            await db.dispose()

    async def _check_cards(self, database: tuple[str, str | None], tenants: list[str]) -> None:
        """Every card as a recompute from scratch, with no index in memory, computes it."""
        db = Database(*database)
        saved = index_cache.INDEXES
        index_cache.INDEXES = TenantIndexCache(budget=1_000_000)
        try:
            for tenant in tenants:
                async with db.transaction(tenant) as session:
                    changed = await recompute.recompute(session, tenant, reason="check")
                assert changed == [], f"{tenant}: a recompute from scratch changed {changed[:5]}"
        finally:
            index_cache.INDEXES = saved
            await db.dispose()
