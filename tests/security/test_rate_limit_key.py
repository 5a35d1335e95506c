"""Item 4: the rate limit counts per caller, however the caller spells its credential.

Authenticated requests are counted per principal (the API key or the user), after the
`Authorization` header is parsed; requests that do not authenticate are counted per
client address, so inventing credentials does not buy fresh budgets either.
"""

from __future__ import annotations

import secrets

from tests.security.conftest import KEY, StartGateway

SPELLINGS = (f"Bearer {KEY}", f"Bearer  {KEY}", f"bearer {KEY}", f"BEARER {KEY}\t")


class TestOneBucketPerPrincipal:
    async def test_respelling_the_authorization_header_does_not_reset_the_limit(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(rate_limit_per_minute=30) as gateway:
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
            statuses = []
            for _ in range(35):
                response = await gateway.client.get(
                    "/api/v1/auth/me",
                    headers={"Authorization": f"Bearer tu_{secrets.token_urlsafe(16)}"},
                )
                statuses.append(response.status_code)
            assert statuses[:30] == [401] * 30
            assert statuses[-1] == 429
