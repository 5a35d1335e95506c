"""Item 3: guessing passwords is slowed down per account and per client address.

Failures past a few free ones lock the account (or the address) for a time that doubles
with every further failure; a locked login answers 429 with `Retry-After` as a problem,
even when the password is right, and the lockout is logged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from tests.conftest import Databases
from tests.security.conftest import EMAIL, KEY, PASSWORD, Gateway, StartGateway
from tests.support import eventually, running_service, settings_for
from trueup.audit.main import build as build_audit
from trueup.audit.settings import Settings as AuditSettings


async def _wrong(gateway: Gateway, email: str = EMAIL) -> int:
    response = await gateway.client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong guess"}
    )
    return response.status_code


class TestPerAccount:
    async def test_fifty_wrong_passwords_then_the_right_one_is_refused_with_429(
        self, gateway: Gateway
    ) -> None:
        statuses = [await _wrong(gateway) for _ in range(50)]
        assert statuses[0] == 401
        assert 429 in statuses
        right = await gateway.login(gateway.client)
        assert right.status_code == 429
        assert right.headers["content-type"] == "application/problem+json"
        assert int(right.headers["retry-after"]) >= 1
        problem = right.json()
        assert problem["status"] == 429
        assert problem["title"] == "Too Many Requests"
        assert "trueup_session" not in gateway.client.cookies

    async def test_the_lock_doubles_and_lifts_after_it_runs_out(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(
            login_free_failures=2, login_backoff_seconds=1.0, login_max_backoff_seconds=60
        ) as gateway:
            assert [await _wrong(gateway) for _ in range(2)] == [401, 401]
            assert await _wrong(gateway) == 401  # the third failure locks for 1 s
            assert await _wrong(gateway) == 429
            await asyncio.sleep(1.1)
            assert await _wrong(gateway) == 401  # the fourth locks for 2 s
            await asyncio.sleep(1.1)
            assert await _wrong(gateway) == 429
            await asyncio.sleep(1.0)
            assert (await gateway.login(gateway.client)).status_code == 200

    async def test_guesses_sent_all_at_once_are_counted_before_they_are_checked(
        self, gateway: Gateway
    ) -> None:
        statuses = await asyncio.gather(*(_wrong(gateway) for _ in range(30)))
        # Five free failures, and the sixth that starts the lock; the rest wait.
        assert statuses.count(401) == 6
        assert statuses.count(429) == 24

    async def test_unknown_emails_are_throttled_like_known_ones(
        self, start_gateway: StartGateway
    ) -> None:
        async with start_gateway(login_free_failures=3) as gateway:
            known = [await _wrong(gateway) for _ in range(5)]
            unknown = [await _wrong(gateway, "nobody@security.example") for _ in range(5)]
            assert known == unknown

    async def test_a_lockout_is_logged_without_the_password(self, gateway: Gateway) -> None:
        with capture_logs() as logs:
            for _ in range(12):
                await _wrong(gateway)
        locked = [entry for entry in logs if entry["event"] == "login locked"]
        assert locked
        assert locked[0]["tenant_ids"] == [gateway.tenant_id]
        assert "wrong guess" not in repr(logs)


class TestPerAddress:
    async def test_many_accounts_from_one_address_are_throttled(self, gateway: Gateway) -> None:
        statuses = [await _wrong(gateway, f"user{i}@security.example") for i in range(40)]
        assert statuses[0] == 401
        assert statuses[-1] == 429
        right = await gateway.login(gateway.client, EMAIL, PASSWORD)
        assert right.status_code == 429


class TestTheLockoutIsInTheActivityLog:
    async def test_the_tenant_sees_whose_sign_in_was_locked_and_from_where(
        self, start_gateway: StartGateway, clean_nats: str, databases: Databases
    ) -> None:
        audit = await settings_for(AuditSettings, databases, clean_nats)
        async with (
            running_service(build_audit, audit),
            start_gateway(login_free_failures=2) as gateway,
        ):
            for _ in range(4):
                await _wrong(gateway)

            async def logged() -> list[dict[str, Any]] | None:
                response = await gateway.client.get(
                    "/api/v1/activity",
                    params={"action_type": "security"},
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                assert response.status_code == 200, response.text
                items: list[dict[str, Any]] = response.json()["items"]
                return items or None

            entries = await eventually(logged, timeout=15, what="the lockout entry")
        assert entries[0]["actor"]["name"] == "Sign-in protection"
        assert EMAIL in entries[0]["summary"]
        assert "wrong guess" not in repr(entries)
