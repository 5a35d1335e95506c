"""Item 1: sessions are signed with a per-installation secret, never a value from the source.

The gateway refuses to start on a known, empty or short signing key unless development
is asked for explicitly; the embedded runtime generates a random key once and keeps it
private; several keys can be configured so that one can be rotated without signing out
everybody at once.
"""

from __future__ import annotations

import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from tests.security.conftest import EMAIL, Gateway, StartGateway
from trueup.devstack.runtime.__main__ import Paths, _session_secrets
from trueup.gateway.main import build
from trueup.gateway.settings import Settings

OLD_DEV_SECRET = "dev-only-change-me-in-production-0123456789"


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        **values,  # type: ignore[arg-type]
    )


def _forged_session(secret: str, user_id: str, tenant_id: str, **claims: object) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": user_id,
        "tid": tenant_id,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture
def no_secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRUEUP_JWT_SECRET", "TRUEUP_JWT_SECRETS", "TRUEUP_ALLOW_INSECURE_DEV_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_secret_in_environment")
class TestTheGatewayRefusesWeakSigningKeys:
    @pytest.mark.parametrize(
        "values",
        [
            pytest.param({}, id="unset"),
            pytest.param({"jwt_secret": SecretStr("")}, id="empty"),
            pytest.param({"jwt_secret": SecretStr(OLD_DEV_SECRET)}, id="old-default"),
            pytest.param({"jwt_secret": SecretStr("x" * 31)}, id="short"),
            pytest.param(
                {"jwt_secrets": SecretStr(f"{secrets.token_urlsafe(32)},{OLD_DEV_SECRET}")},
                id="known-key-among-verifying-keys",
            ),
            pytest.param(
                {"jwt_secret": SecretStr(f"{secrets.token_urlsafe(32)},short")},
                id="short-key-in-the-older-setting",
            ),
        ],
    )
    def test_it_does_not_build(self, tmp_path: Path, values: dict[str, object]) -> None:
        with pytest.raises(RuntimeError, match="TRUEUP_JWT_SECRET"):
            build(_settings(tmp_path, **values))

    def test_the_error_never_shows_the_secret(self, tmp_path: Path) -> None:
        with pytest.raises(RuntimeError) as refused:
            build(_settings(tmp_path, jwt_secret=SecretStr("short-secret-value")))
        assert "short-secret-value" not in str(refused.value)

    def test_the_development_flag_lets_it_start(self, tmp_path: Path) -> None:
        build(_settings(tmp_path, allow_insecure_dev_secret=True))
        build(_settings(tmp_path, jwt_secret=SecretStr("dev"), allow_insecure_dev_secret=True))

    def test_a_random_key_of_32_bytes_is_accepted(self, tmp_path: Path) -> None:
        build(_settings(tmp_path, jwt_secrets=SecretStr(secrets.token_urlsafe(32))))


class TestAForgedSessionIsRefused:
    async def test_a_cookie_signed_with_the_old_default_is_not_a_session(
        self, gateway: Gateway
    ) -> None:
        signed_in = await gateway.login(gateway.client)
        assert signed_in.status_code == 200, signed_in.text
        me = await gateway.client.get("/api/v1/users")
        admin_id = next(u["user_id"] for u in me.json() if u["email"] == EMAIL)
        async with gateway.browser() as attacker:
            forged = _forged_session(OLD_DEV_SECRET, admin_id, gateway.tenant_id)
            attacker.cookies.set("trueup_session", forged, domain="gateway.test")
            answer = await attacker.get("/api/v1/users")
            assert answer.status_code == 401


class TestRotation:
    async def test_the_first_key_signs_and_any_key_verifies(
        self, start_gateway: StartGateway
    ) -> None:
        old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        # The order an operator writes while rotating: the new key first, the old one kept
        # until the sessions it signed have expired.
        async with start_gateway(jwt_secrets=SecretStr(f"{new},{old}")) as gateway:
            signed_in = await gateway.login(gateway.client)
            assert signed_in.status_code == 200
            fresh = gateway.client.cookies["trueup_session"]
            claims = jwt.decode(fresh, new, algorithms=["HS256"])
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(fresh, old, algorithms=["HS256"])
            # The same session as the old key signed it before the rotation still works.
            async with gateway.browser() as before_rotation:
                before_rotation.cookies.set(
                    "trueup_session",
                    jwt.encode(claims, old, algorithm="HS256"),
                    domain="gateway.test",
                )
                assert (await before_rotation.get("/api/v1/auth/me")).status_code == 200
                retired = jwt.encode(claims, secrets.token_urlsafe(32), algorithm="HS256")
                before_rotation.cookies.set("trueup_session", retired, domain="gateway.test")
                assert (await before_rotation.get("/api/v1/auth/me")).status_code == 401


class TestTheEmbeddedRuntimeGeneratesTheKey:
    def test_a_random_private_key_is_kept_and_reused(
        self, tmp_path: Path, no_secret_in_environment: None
    ) -> None:
        paths = Paths(tmp_path)
        paths.data.mkdir()
        first = _session_secrets(paths)
        assert len(first.encode()) >= 32
        assert OLD_DEV_SECRET not in first
        stored = next(p for p in paths.data.iterdir() if "session" in p.name)
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert _session_secrets(paths) == first
        assert _session_secrets(Paths(tmp_path / "elsewhere")) != first

    def test_keys_from_the_environment_win(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        configured = f"{secrets.token_urlsafe(32)},{secrets.token_urlsafe(32)}"
        monkeypatch.setenv("TRUEUP_JWT_SECRETS", configured)
        assert _session_secrets(Paths(tmp_path)) == configured
