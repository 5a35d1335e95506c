"""Item 2: a session is a row on the server, and signing out, a password change, a
deactivation or a stolen refresh token used twice end it at once, not when it expires.

Each test copies the cookies a browser holds before the event and replays them after it,
which is what someone who stole them would do.
"""

from __future__ import annotations

import httpx

from tests.security.conftest import EMAIL, PASSWORD, Gateway


def _stolen(client: httpx.AsyncClient) -> dict[str, str]:
    return {
        name: client.cookies[name]
        for name in ("trueup_session", "trueup_refresh", "trueup_csrf")
        if name in client.cookies
    }


async def _replay(gateway: Gateway, cookies: dict[str, str]) -> tuple[int, int]:
    """(status of a read with the session cookie, status of a refresh with the refresh one)."""
    async with gateway.browser() as thief:
        for name, value in cookies.items():
            path = "/api/v1/auth" if name == "trueup_refresh" else "/"
            thief.cookies.set(name, value, domain="gateway.test", path=path)
        read = await thief.get("/api/v1/auth/me")
        renewed = await thief.post("/api/v1/auth/refresh")
        return read.status_code, renewed.status_code


def _csrf(response: httpx.Response) -> dict[str, str]:
    return {"X-CSRF-Token": response.json()["csrf_token"]}


class TestLogout:
    async def test_the_session_and_refresh_cookies_stop_working(self, gateway: Gateway) -> None:
        signed_in = await gateway.login(gateway.client)
        assert signed_in.status_code == 200
        cookies = _stolen(gateway.client)
        assert await _replay(gateway, cookies) == (200, 200)

        cookies = _stolen(gateway.client)  # the refresh above did not touch this browser
        out = await gateway.client.post("/api/v1/auth/logout", headers=_csrf(signed_in))
        assert out.status_code == 204
        assert await _replay(gateway, cookies) == (401, 401)

    async def test_other_sessions_of_the_user_stay_signed_in(self, gateway: Gateway) -> None:
        async with gateway.browser() as laptop, gateway.browser() as phone:
            on_laptop = await gateway.login(laptop)
            await gateway.login(phone)
            await laptop.post("/api/v1/auth/logout", headers=_csrf(on_laptop))
            assert (await phone.get("/api/v1/auth/me")).status_code == 200


class TestPasswordChange:
    async def test_it_ends_every_other_session_and_keeps_the_callers(
        self, gateway: Gateway
    ) -> None:
        async with gateway.browser() as elsewhere:
            assert (await gateway.login(elsewhere)).status_code == 200
            stolen = _stolen(elsewhere)
            signed_in = await gateway.login(gateway.client)
            changed = await gateway.client.post(
                "/api/v1/auth/password",
                json={"current_password": PASSWORD, "new_password": "a much longer new one"},
                headers=_csrf(signed_in),
            )
            assert changed.status_code == 200, changed.text
            assert (await gateway.client.get("/api/v1/auth/me")).status_code == 200
            assert await _replay(gateway, stolen) == (401, 401)
            assert (await gateway.login(elsewhere)).status_code == 401
            assert (
                await gateway.login(elsewhere, EMAIL, "a much longer new one")
            ).status_code == 200

    async def test_the_current_password_is_required(self, gateway: Gateway) -> None:
        signed_in = await gateway.login(gateway.client)
        refused = await gateway.client.post(
            "/api/v1/auth/password",
            json={"current_password": "not it", "new_password": "a much longer new one"},
            headers=_csrf(signed_in),
        )
        assert refused.status_code == 403
        assert (await gateway.client.get("/api/v1/auth/me")).status_code == 200


class TestDeactivation:
    async def test_a_deactivated_users_sessions_end_even_after_reactivation(
        self, gateway: Gateway
    ) -> None:
        admin = await gateway.login(gateway.client)
        created = await gateway.client.post(
            "/api/v1/users",
            json={"email": "ann@security.example", "password": "ann's long password"},
            headers=_csrf(admin),
        )
        assert created.status_code == 201, created.text
        async with gateway.browser() as ann:
            assert (
                await gateway.login(ann, "ann@security.example", "ann's long password")
            ).status_code == 200
            stolen = _stolen(ann)
            url = f"/api/v1/users/{created.json()['user_id']}"
            off = await gateway.client.patch(url, json={"active": False}, headers=_csrf(admin))
            assert off.status_code == 200
            on = await gateway.client.patch(url, json={"active": True}, headers=_csrf(admin))
            assert on.status_code == 200
            assert await _replay(gateway, stolen) == (401, 401)


class TestRefreshTokenReuse:
    async def test_a_refresh_token_used_twice_ends_the_whole_family(self, gateway: Gateway) -> None:
        assert (await gateway.login(gateway.client)).status_code == 200
        first = _stolen(gateway.client)
        renewed = await gateway.client.post("/api/v1/auth/refresh")
        assert renewed.status_code == 200
        assert (await gateway.client.get("/api/v1/auth/me")).status_code == 200
        # Someone replays the first refresh token: refused, and the legitimate browser's
        # newer session, of the same family, ends too.
        async with gateway.browser() as thief:
            thief.cookies.set(
                "trueup_refresh",
                first["trueup_refresh"],
                domain="gateway.test",
                path="/api/v1/auth",
            )
            assert (await thief.post("/api/v1/auth/refresh")).status_code == 401
        assert (await gateway.client.get("/api/v1/auth/me")).status_code == 401
        assert (await gateway.client.post("/api/v1/auth/refresh")).status_code == 401
