"""Client resilience against an unreliable PSA: 429 storms, 500s, slow answers,
dropped connections, garbage. Each test proves the outcome and counts what the
simulator saw, so a client that skipped a retry (or retried a write) would fail."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from tests.psa.demo_msp import DEMO
from trueup.psa import (
    LineItemRef,
    PsaRateLimited,
    PsaResponseError,
    PsaServerError,
    PsaTimeout,
    RetryPolicy,
)

FAST = RetryPolicy(max_attempts=5, initial_backoff=0.01, max_backoff=0.05, jitter=0.01)


class TestRateLimits:
    async def test_waits_for_retry_after_then_succeeds(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(rate_limit_next=2, retry_after=1)
        async with make_cw(cw_server, codebase="v4_6_release/") as client:
            started = time.monotonic()
            accounts = [a async for a in client.list_accounts()]
            elapsed = time.monotonic() - started
        assert len(accounts) == 48
        assert elapsed >= 2.0  # two 429s, each with Retry-After: 1
        stats = await cw_server.control.stats()
        assert stats["statuses"]["429"] == 2
        assert stats["statuses"]["200"] == 1

    async def test_storm_over_a_window_still_syncs_everything(
        self, cw_server: Any, make_cw: Any
    ) -> None:
        await cw_server.control.set_faults(rate_limit=8, rate_window=1.0)
        retry = RetryPolicy(max_attempts=10, initial_backoff=0.01, max_backoff=0.05, jitter=0.01)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=retry) as client:
            contract_ids = [str(c.id) for c in DEMO.contracts[:20]]
            items = [i async for i in client.list_line_items(contract_ids=contract_ids)]
        expected = sum(len(DEMO.by_contract[c.id]) for c in DEMO.contracts[:20])
        assert len(items) == expected
        assert len({i.id for i in items}) == expected
        stats = await cw_server.control.stats()
        assert stats["statuses"].get("429", 0) > 0

    async def test_gives_up_after_the_budget(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(rate_limit_next=10, retry_after=0)
        retry = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02, jitter=0.01)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=retry) as client:
            with pytest.raises(PsaRateLimited) as raised:
                await client.check_connection()
        assert raised.value.retry_after == 0
        assert (await cw_server.control.stats())["statuses"]["429"] == 3


class TestServerErrors:
    async def test_retries_500s_on_reads(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(fail_next=3)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            accounts = [a async for a in client.list_accounts()]
        assert len(accounts) == 48
        assert (await cw_server.control.stats())["statuses"]["500"] == 3

    async def test_gives_up_with_a_typed_error(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(fail_next=50)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            with pytest.raises(PsaServerError) as raised:
                await client.check_connection()
        assert raised.value.status_code == 500
        assert "ConnectWiseApi" in str(raised.value)

    async def test_a_500_on_a_create_is_not_resent(self, cw_server: Any, make_cw: Any) -> None:
        # The PSA may have created the addition before failing: resending could bill twice.
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            product = await anext(client.list_products())
            await cw_server.control.set_faults(fail_next=1)
            with pytest.raises(PsaServerError):
                await client.add_line_item(
                    str(DEMO.contracts[0].id), product, Decimal(1), Decimal(1), Decimal(1)
                )
        stats = await cw_server.control.stats()
        assert stats["statuses"]["500"] == 1
        assert stats["writes"] == 0

    async def test_a_patch_is_retried_once_safe(self, cw_server: Any, make_cw: Any) -> None:
        # Setting a quantity is idempotent, so a 500 is retried and the write lands once.
        item = DEMO.line_items[0]
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            current = await client.get_line_item(str(item.contract_id), str(item.id))
            await cw_server.control.set_faults(fail_next=1)
            result = await client.change_quantity(current.ref, Decimal(31))
        assert result.line_item is not None
        assert result.line_item.quantity == Decimal(31)
        assert len(await cw_server.control.writes()) == 1

    async def test_random_errors_do_not_change_the_result(
        self, cw_server: Any, make_cw: Any
    ) -> None:
        retry = RetryPolicy(max_attempts=8, initial_backoff=0.005, max_backoff=0.02, jitter=0.005)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=retry) as client:
            clean = sorted([(i.id, i.quantity) async for i in client.list_line_items()])
            await cw_server.control.set_faults(error_rate=0.2)
            noisy = sorted([(i.id, i.quantity) async for i in client.list_line_items()])
        assert noisy == clean
        assert (await cw_server.control.stats())["statuses"]["500"] > 0


class TestTimeoutsAndDrops:
    async def test_slow_answer_times_out_and_is_retried(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(slow_next=1, slow_seconds=1.5)
        async with make_cw(cw_server, codebase="v4_6_release/", timeout=0.4, retry=FAST) as client:
            started = time.monotonic()
            await client.check_connection()
            elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 1.5
        assert (await cw_server.control.stats())["requests"] == 2

    async def test_always_slow_raises_timeout(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(slow_rate=1.0, slow_seconds=1.0)
        retry = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01, jitter=0.0)
        async with make_cw(cw_server, codebase="v4_6_release/", timeout=0.2, retry=retry) as client:
            with pytest.raises(PsaTimeout):
                await client.check_connection()

    async def test_dropped_connection_is_retried(self, cw_server: Any, make_cw: Any) -> None:
        await cw_server.control.set_faults(drop_next=2)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            accounts = [a async for a in client.list_accounts()]
        assert len(accounts) == 48
        assert (await cw_server.control.stats())["requests"] == 3


class TestGarbage:
    async def test_html_instead_of_json_is_a_precise_error(
        self, cw_server: Any, make_cw: Any
    ) -> None:
        await cw_server.control.set_faults(garbage_next=1)
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            with pytest.raises(PsaResponseError) as raised:
                _ = [a async for a in client.list_accounts()]
        message = str(raised.value)
        assert "GET /v4_6_release/apis/3.0/company/companies" in message
        assert "not JSON" in message
        assert "<html>" in message

    async def test_garbage_during_a_write_changes_nothing_more(
        self, cw_server: Any, make_cw: Any
    ) -> None:
        item = DEMO.line_items[5]
        async with make_cw(cw_server, codebase="v4_6_release/", retry=FAST) as client:
            await cw_server.control.set_faults(garbage_next=1)
            with pytest.raises(PsaResponseError):
                await client.change_quantity(
                    LineItemRef(str(item.contract_id), str(item.id)), Decimal(9)
                )
        # The garbage answered the read that precedes the write: nothing was written.
        assert await cw_server.control.writes() == []


@pytest.fixture(params=["connectwise", "autotask", "halo"])
def any_psa(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    """(simulator, client factory) for each PSA, over real HTTP."""
    fixtures = {
        "connectwise": ("cw_server", "make_cw"),
        "autotask": ("at_sim_running", "make_at"),
        "halo": ("halo_sim_running", "make_halo"),
    }
    sim_name, factory_name = fixtures[request.param]
    return request.getfixturevalue(sim_name), request.getfixturevalue(factory_name)


class TestEveryClientSurvivesTheSameFaults:
    async def test_429_500_drop_and_slow_in_one_sync(self, any_psa: tuple[Any, Any]) -> None:
        sim, make = any_psa
        retry = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05, jitter=0.01)
        async with make(sim, retry=retry) as client:
            await client.check_connection()
            await sim.control.set_faults(
                rate_limit_next=1, retry_after=1, fail_next=1, drop_next=1,
                slow_next=1, slow_seconds=0.1,
            )  # fmt: skip
            items = [i async for i in client.list_line_items()]
        assert len(items) == len(DEMO.line_items)
        statuses = (await sim.control.stats())["statuses"]
        assert statuses["429"] == 1
        assert statuses["500"] == 1

    async def test_garbage_is_a_response_error(self, any_psa: tuple[Any, Any]) -> None:
        sim, make = any_psa
        async with make(sim) as client:
            await client.check_connection()
            await sim.control.set_faults(garbage_next=1)
            with pytest.raises(PsaResponseError, match="not JSON"):
                _ = [a async for a in client.list_accounts()]
