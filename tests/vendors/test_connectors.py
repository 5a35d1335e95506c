"""Each connector against its simulator, the retry policy, and the scheduler."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from trueup.devstack.vendor_simulators import huntress, ninjaone, pax8
from trueup.devstack.vendor_simulators.demo import (
    HUNTRESS_ORGANIZATIONS,
    NINJA_DEVICES,
    NINJA_ORGANIZATIONS,
    PAX8_COMPANIES,
    PAX8_PRODUCTS,
    PAX8_SUBSCRIPTIONS,
    PSA_ACCOUNTS,
)
from trueup.vendors.connectors import (
    Connector,
    ConnectorError,
    HuntressConnector,
    NinjaOneConnector,
    Pax8Connector,
    PollResult,
    Schedule,
    Scheduler,
)
from trueup.vendors.connectors import huntress as huntress_module
from trueup.vendors.connectors import ninjaone as ninjaone_module
from trueup.vendors.connectors import pax8 as pax8_module
from trueup.vendors.connectors.http import VendorHttp, parse_retry_after
from trueup.vendors.usage import ReportedUsage

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def transport(app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


def by_key(records: list[ReportedUsage]) -> dict[tuple[str, str], Decimal]:
    return {(r.vendor_account_id, r.sku): r.quantity for r in records}


class TestPax8Connector:
    def connector(self, app: FastAPI, **kwargs: object) -> Pax8Connector:
        return Pax8Connector(
            client_id=pax8.DEFAULT_CLIENT_ID,
            client_secret=pax8.DEFAULT_CLIENT_SECRET,
            base_url="http://pax8.test",
            token_url="http://pax8.test/oauth/token",
            transport=transport(app),
            clock=lambda: NOW,
            **kwargs,  # type: ignore[arg-type]
        )

    async def test_active_subscriptions_summed_per_company_and_sku(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(pax8_module, "PAGE_SIZE", 2)  # walk several pages
        connector = self.connector(pax8.create_app())

        records = await connector.poll()
        await connector.aclose()

        skus = {product.id: product.sku for product in PAX8_PRODUCTS}
        expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for subscription in PAX8_SUBSCRIPTIONS:
            if subscription.status == "Active":
                key = (subscription.company_id, skus[subscription.product_id])
                expected[key] += subscription.quantity
        assert by_key(records) == expected
        acme = PAX8_COMPANIES[0]
        assert by_key(records)[(acme.id, "MST-365-BP-M")] == Decimal(30)
        assert all(r.vendor == "pax8" and r.as_of == NOW for r in records)
        names = {r.vendor_account_id: r.vendor_account_name for r in records}
        assert names[acme.id] == "ACME Incorporated"

    async def test_wrong_credentials_fail_the_poll(self) -> None:
        connector = Pax8Connector(
            client_id="someone",
            client_secret="wrong",
            base_url="http://pax8.test",
            token_url="http://pax8.test/oauth/token",
            transport=transport(pax8.create_app()),
        )

        with pytest.raises(ConnectorError, match="401"):
            await connector.poll()

    async def test_rate_limited_polls_wait_for_retry_after_and_finish(self) -> None:
        app = pax8.create_app(rate_limit=4, rate_window=1.0)
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await asyncio.sleep(seconds)

        connector = self.connector(app, sleep=sleep)

        records = await connector.poll()

        assert app.state.rate_limiter.refused >= 1
        assert 1.0 in waits
        assert len(records) == len(by_key(records)) > 10


class TestNinjaOneConnector:
    async def test_approved_devices_per_organization_and_class(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(ninjaone_module, "PAGE_SIZE", 50)
        connector = NinjaOneConnector(
            client_id=ninjaone.DEFAULT_CLIENT_ID,
            client_secret=ninjaone.DEFAULT_CLIENT_SECRET,
            base_url="http://ninja.test",
            transport=transport(ninjaone.create_app()),
            clock=lambda: NOW,
        )

        records = await connector.poll()

        expected = Counter(
            (str(d.organization_id), d.node_class)
            for d in NINJA_DEVICES
            if d.approval_status == "APPROVED"
        )
        assert by_key(records) == {key: Decimal(n) for key, n in expected.items()}
        assert by_key(records)[("1", "WINDOWS_WORKSTATION")] == Decimal(23)  # 24, one pending
        acme = next(r for r in records if r.vendor_account_id == "1")
        assert acme.vendor_account_name == "Acme Inc"
        assert {r.sku_name for r in records} >= {"Windows workstation", "Mac"}


class TestHuntressConnector:
    async def test_agents_and_used_counters_per_organization(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(huntress_module, "PAGE_LIMIT", 3)  # four pages of tokens
        connector = HuntressConnector(
            api_key=huntress.DEFAULT_API_KEY,
            api_secret=huntress.DEFAULT_API_SECRET,
            base_url="http://huntress.test",
            transport=transport(huntress.create_app()),
            clock=lambda: NOW,
        )

        records = await connector.poll()

        usage = by_key(records)
        assert len({r.vendor_account_id for r in records}) == len(HUNTRESS_ORGANIZATIONS)
        for organization in HUNTRESS_ORGANIZATIONS:
            account = str(organization.id)
            assert usage[(account, "huntress-edr-agent")] == organization.agents_count
            identities = usage.get((account, "huntress-itdr-identity"))
            assert identities == (organization.billable_identity_count or None)
        assert usage[("40109", "huntress-sat-learner")] == Decimal(85)

    async def test_wrong_key_fails_the_poll(self) -> None:
        connector = HuntressConnector(
            api_key="nobody",
            api_secret="nothing",
            base_url="http://huntress.test",
            transport=transport(huntress.create_app()),
        )

        with pytest.raises(ConnectorError, match="401"):
            await connector.poll()


class TestDemoData:
    @pytest.mark.parametrize(
        "names",
        [
            [c.name for c in PAX8_COMPANIES],
            [o.name for o in HUNTRESS_ORGANIZATIONS],
            [o.name for o in NINJA_ORGANIZATIONS],
        ],
    )
    def test_vendor_names_are_variants_of_psa_names(self, names: list[str]) -> None:
        # Fuzzy mapping must have work to do: vendors rarely spell a client as the PSA does.
        exact = set(names) & set(PSA_ACCOUNTS)
        assert len(exact) <= 2 < len(names) - 5
        assert any(name.lower().startswith("acme") for name in names)


class TestRetries:
    async def test_server_errors_are_retried_then_succeed(self) -> None:
        calls = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            return httpx.Response(503 if calls < 3 else 200, json={"ok": True})

        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        http = VendorHttp(
            "test", base_url="http://v.test", transport=httpx.MockTransport(handler), sleep=sleep
        )

        assert await http.get_json("/x") == {"ok": True}
        assert calls == 3
        assert len(waits) == 2

    async def test_retry_after_is_honoured_and_capped(self) -> None:
        responses = iter(
            [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]
        )
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        http = VendorHttp(
            "test",
            base_url="http://v.test",
            transport=httpx.MockTransport(lambda request: next(responses)),
            sleep=sleep,
            max_wait=5,
        )

        await http.get_json("/x")

        assert waits == [5]

    async def test_gives_up_with_a_connector_error(self) -> None:
        async def sleep(seconds: float) -> None:
            return None

        http = VendorHttp(
            "test",
            base_url="http://v.test",
            transport=httpx.MockTransport(lambda request: httpx.Response(500)),
            sleep=sleep,
            max_attempts=3,
        )

        with pytest.raises(ConnectorError, match="after 3 attempts"):
            await http.get_json("/x")

    def test_retry_after_as_http_date(self) -> None:
        assert parse_retry_after("Fri, 27 Nov 2026 06:00:30 GMT", now=NOW) == 30.0
        assert parse_retry_after("12") == 12.0
        assert parse_retry_after("soon") is None


class _FakeConnector(Connector):
    name = "fake"

    def __init__(self, vendor: str, fail: bool = False) -> None:
        self.vendor = vendor
        self.schedule = Schedule(every=timedelta(hours=1))
        self.fail = fail
        self.polls = 0

    async def poll(self) -> list[ReportedUsage]:
        self.polls += 1
        if self.fail:
            raise ConnectorError(self.name, "vendor down")
        return [
            ReportedUsage(
                vendor=self.vendor,
                vendor_account_id="a1",
                sku="s1",
                quantity=Decimal(self.polls),
                as_of=NOW,
            )
        ]


class TestScheduler:
    def test_schedule_slots_are_aligned(self) -> None:
        schedule = Schedule(every=timedelta(hours=6), offset=timedelta(minutes=5))

        assert schedule.next_run(NOW) == datetime(2026, 11, 27, 6, 5, tzinfo=UTC)
        assert schedule.next_run(datetime(2026, 11, 27, 6, 5, tzinfo=UTC)) == datetime(
            2026, 11, 27, 12, 5, tzinfo=UTC
        )

    async def test_due_connectors_poll_and_failures_are_contained(self) -> None:
        now = [NOW]
        good, bad = _FakeConnector("good"), _FakeConnector("bad", fail=True)
        results: list[PollResult] = []

        async def collect(result: PollResult) -> None:
            results.append(result)

        clock: Callable[[], datetime] = lambda: now[0]  # noqa: E731
        scheduler = Scheduler([good, bad], on_result=collect, clock=clock)

        await scheduler.run_due()
        await scheduler.run_due()  # nothing due yet
        now[0] = NOW + timedelta(hours=1)
        await scheduler.run_due()

        assert good.polls == 2
        assert bad.polls == 2
        assert [r.ok for r in results] == [True, False, True, False]
        assert "vendor down" in (results[1].error or "")
        assert results[2].records[0].quantity == Decimal(2)

    async def test_run_stops_when_asked(self) -> None:
        stop = asyncio.Event()
        seen: list[PollResult] = []

        async def collect(result: PollResult) -> None:
            seen.append(result)
            stop.set()

        await asyncio.wait_for(
            Scheduler([_FakeConnector("good")], on_result=collect).run(stop), timeout=5
        )

        assert len(seen) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TestSimulatorsRunOnTheirOwn:
    def test_python_dash_m_serves_the_api(self) -> None:
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trueup.devstack.vendor_simulators.huntress",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    response = httpx.get(
                        f"http://127.0.0.1:{port}/v1/organizations",
                        auth=(huntress.DEFAULT_API_KEY, huntress.DEFAULT_API_SECRET),
                    )
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert response.status_code == 200
            assert response.json()["pagination"]["total_count"] == len(HUNTRESS_ORGANIZATIONS)
        finally:
            process.terminate()
            process.wait(timeout=10)
