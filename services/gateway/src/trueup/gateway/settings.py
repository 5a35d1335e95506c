import secrets
from functools import cache

from pydantic import Field, SecretStr

from trueup.platform.settings import ServiceSettings

MIN_SECRET_BYTES = 32
KNOWN_SECRETS = frozenset(
    {
        # Defaults that once shipped in the source, compose and the dev overlay: public.
        "dev-only-change-me-in-production-0123456789",
        "dev-only-jwt-secret-change-me-0123456789abcdef",
    }
)


class InsecureSecretError(RuntimeError):
    """The session signing keys are missing, public or too short."""


class Settings(ServiceSettings):
    """Gateway settings (`TRUEUP_*`)."""

    service_name: str = "gateway"
    http_port: int = 8000

    bootstrap_tenant_id: str = "demo"
    bootstrap_tenant_name: str = "Demo MSP"
    bootstrap_email: str | None = None
    bootstrap_password: SecretStr | None = None
    bootstrap_api_key: SecretStr | None = None
    """Creates the demo tenant, its admin and this API key at start when set."""

    operator_token: SecretStr | None = None
    """The bearer token of the operator API (`/api/v1/operator/...`); unset, that API does
    not exist (404). Tenants can always be managed with `python -m trueup.gateway.operator`."""
    public_url: str = ""
    """The address people open TrueUp at (`https://trueup.example.com`), for invite links;
    unset, links are given as paths (`/invite/<token>`)."""
    invite_hours: int = Field(default=72, ge=1, le=24 * 30)
    """How long an invite link works."""

    jwt_secrets: SecretStr | None = None
    """Comma-separated session signing keys: the first signs, any verifies (rotation)."""
    jwt_secret: SecretStr | None = None
    """The same as `jwt_secrets` (the older name, which deployments set); its keys verify
    after those of `jwt_secrets` when both are set."""
    allow_insecure_dev_secret: bool = False
    """Development only: start with a missing, known or short key (a random one if unset)."""
    session_minutes: int = 30
    refresh_days: int = 7

    login_free_failures: int = Field(default=5, ge=1)
    """Wrong passwords per account before each further one locks it for a while."""
    login_free_failures_per_address: int = Field(default=20, ge=1)
    """Wrong passwords from one client address (any accounts) before it is locked."""
    login_backoff_seconds: float = Field(default=1.0, gt=0)
    """The first lock; each further failure doubles it."""
    login_max_backoff_seconds: float = Field(default=900.0, gt=0)

    query_timeout_seconds: float = 5.0
    max_request_bytes: int = 1_000_000
    max_upload_bytes: int = 200 * 1024 * 1024
    rate_limit_per_minute: int = 600
    cors_origins: list[str] = Field(default_factory=list)

    def session_keys(self) -> list[str]:
        """The signing keys, first one signing; refuses weak ones unless development says so.

        Raises `InsecureSecretError` naming the problem, never the key.
        """
        keys: list[str] = []
        for listed in (_value(self.jwt_secrets), _value(self.jwt_secret)):
            keys += [k.strip() for k in listed.split(",") if k.strip() and k.strip() not in keys]
        weak = [
            "a published development value" if key in KNOWN_SECRETS else "shorter than 32 bytes"
            for key in keys
            if key in KNOWN_SECRETS or len(key.encode()) < MIN_SECRET_BYTES
        ]
        if self.allow_insecure_dev_secret:
            return keys or [_process_only_key()]
        if not keys:
            raise InsecureSecretError(
                "TRUEUP_JWT_SECRETS (or TRUEUP_JWT_SECRET) is not set: session cookies would "
                "be signed with a key anyone can know. Set a random key of at least 32 bytes, "
                "or TRUEUP_ALLOW_INSECURE_DEV_SECRET=1 on a development machine."
            )
        if weak:
            raise InsecureSecretError(
                f"A session signing key in TRUEUP_JWT_SECRETS / TRUEUP_JWT_SECRET is "
                f"{weak[0]}. Set random keys of at least 32 bytes, or "
                "TRUEUP_ALLOW_INSECURE_DEV_SECRET=1 on a development machine."
            )
        return keys

    def operator_key(self) -> str | None:
        """The operator API's token, or None when that API is off.

        Raises `InsecureSecretError` for a token too short to withstand guessing.
        """
        token = _value(self.operator_token).strip()
        if not token:
            return None
        if len(token.encode()) < MIN_SECRET_BYTES or token in KNOWN_SECRETS:
            raise InsecureSecretError(
                "TRUEUP_OPERATOR_TOKEN is shorter than 32 bytes; set a random token "
                "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) or unset it."
            )
        return token


def _value(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret is not None else ""


@cache
def _process_only_key() -> str:
    # Development without any key: a random one for this process, so even then nothing
    # in the source signs sessions (they end when the gateway restarts).
    return secrets.token_urlsafe(32)
