"""Item 7: the CSRF token belongs to one session.

It is an HMAC of the session id, so a cookie/header pair an attacker planted (say, from a
sibling subdomain that can set cookies) or a token from another session does not pass.
"""

from __future__ import annotations

from tests.security.conftest import Gateway

WRITE = ("/api/v1/api-keys", {"name": "k", "role": "viewer"})


class TestCsrfIsBoundToTheSession:
    async def test_a_planted_matching_cookie_and_header_are_refused(self, gateway: Gateway) -> None:
        assert (await gateway.login(gateway.client)).status_code == 200
        gateway.client.cookies.set("trueup_csrf", "planted", domain="gateway.test")
        response = await gateway.client.post(
            WRITE[0], json=WRITE[1], headers={"X-CSRF-Token": "planted"}
        )
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]

    async def test_another_sessions_token_is_refused(self, gateway: Gateway) -> None:
        async with gateway.browser() as attacker:
            theirs = await gateway.login(attacker)
            token = theirs.json()["csrf_token"]
            assert (await gateway.login(gateway.client)).status_code == 200
            gateway.client.cookies.set("trueup_csrf", token, domain="gateway.test")
            response = await gateway.client.post(
                WRITE[0], json=WRITE[1], headers={"X-CSRF-Token": token}
            )
            assert response.status_code == 403

    async def test_the_issued_token_works_from_the_body_the_cookie_and_me(
        self, gateway: Gateway
    ) -> None:
        signed_in = await gateway.login(gateway.client)
        token = signed_in.json()["csrf_token"]
        # The web UI reads it from the login answer, else from the cookie, else from /me.
        assert gateway.client.cookies["trueup_csrf"] == token
        assert (await gateway.client.get("/api/v1/auth/me")).json()["csrf_token"] == token
        response = await gateway.client.post(
            WRITE[0], json=WRITE[1], headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 201, response.text
        renewed = await gateway.client.post("/api/v1/auth/refresh")
        new_token = renewed.json()["csrf_token"]
        assert gateway.client.cookies["trueup_csrf"] == new_token
        response = await gateway.client.post(
            WRITE[0], json=WRITE[1], headers={"X-CSRF-Token": new_token}
        )
        assert response.status_code == 201, response.text
