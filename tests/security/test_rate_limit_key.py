"""Item 4: the rate limit counts per caller, however the caller spells its credential.

Authenticated requests are counted per principal (the API key or the user), after the
`Authorization` header is parsed; requests that do not authenticate are counted per
client address, so inventing credentials does not buy fresh budgets either.
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.security.conftest import KEY, StartGateway, clear_of_a_rate_window_edge

SPELLINGS = (f"Bearer {KEY}", f"Bearer  {KEY}", f"bearer {KEY}", f"BEARER {KEY}\t")


class TestOneBucketPerPrincipal:
    async def test_respelling_the_authorization_header_does_not_reset_the_limit(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(rate_limit_per_minute=30) as gateway:
            await clear_of_a_rate_window_edge()
            statuses = []
            for i in range(36):
                response = await gateway.client.get(
                    "/api/v1/auth/me", headers={"Authorization": SPELLINGS[i % len(SPELLINGS)]}
                )
                statuses.append(response.status_code)
            assert statuses[:30] == [200] * 30
            assert statuses[30:] == [429] * 6
            assert response.headers["retry-after"]

    async def test_a_users_sessions_share_the_users_budget(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(rate_limit_per_minute=30) as gateway:
            await clear_of_a_rate_window_edge()
            async with gateway.browser() as laptop, gateway.browser() as phone:
                await gateway.login(laptop)
                await gateway.login(phone)
                statuses = [
                    (await (laptop if i % 2 else phone).get("/api/v1/auth/me")).status_code
                    for i in range(36)
                ]
            # The two logins above were counted against the address, not the user.
            assert statuses.count(200) == 30
            assert statuses[-1] == 429


class TestUnauthenticatedCallersAreCountedPerAddress:
    async def test_made_up_keys_share_the_addresses_budget(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(rate_limit_per_minute=30) as gateway:
            await clear_of_a_rate_window_edge()
            statuses = []
            for _ in range(35):
                response = await gateway.client.get(
                    "/api/v1/auth/me",
                    headers={"Authorization": f"Bearer tu_{secrets.token_urlsafe(16)}"},
                )
                statuses.append(response.status_code)
            assert statuses[:30] == [401] * 30
            assert statuses[-1] == 429


class TestAFailingPrincipalLookup:
    async def test_is_counted_by_address_and_answered_as_a_problem(
        self, start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # One request a minute: the failing lookup still spends the address's budget.
        async with start_gateway(rate_limit_per_minute=1) as gateway:
            await clear_of_a_rate_window_edge()

            def unavailable(key_hash: str) -> None:
                raise RuntimeError("credential store unavailable")

            monkeypatch.setattr(gateway.app.state.credentials, "get", unavailable)
            transport = httpx.ASGITransport(app=gateway.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://gateway.test"
            ) as client:
                answers = [
                    await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {KEY}"})
                    for _ in range(2)
                ]
            assert [a.status_code for a in answers] == [500, 429]
            assert all(a.headers["x-frame-options"] == "DENY" for a in answers)
            assert answers[0].headers["content-type"] == "application/problem+json"
