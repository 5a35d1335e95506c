from pydantic import Field, SecretStr

from trueup.platform.settings import ServiceSettings


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

    jwt_secret: SecretStr = SecretStr("dev-only-change-me-in-production-0123456789")
    session_minutes: int = 30
    refresh_days: int = 7

    query_timeout_seconds: float = 5.0
    max_request_bytes: int = 1_000_000
    max_upload_bytes: int = 200 * 1024 * 1024
    rate_limit_per_minute: int = 600
    cors_origins: list[str] = Field(default_factory=list)
