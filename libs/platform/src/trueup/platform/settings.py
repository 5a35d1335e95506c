"""The one settings base class. Every service subclasses it once (env prefix `TRUEUP_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from trueup.platform.outbound import OutboundPolicy
from trueup.platform.secrets import CredentialSealer


class ServiceSettings(BaseSettings):
    """Settings every service shares; read from `TRUEUP_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="TRUEUP_", extra="ignore", frozen=True)

    service_name: str = "trueup"
    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means a SQLite file under data_dir.",
    )
    database_schema: str | None = Field(
        default=None, description="PostgreSQL schema of this service (default: service name)."
    )
    database_pool_size: int = Field(
        default=5,
        ge=1,
        description=(
            "PostgreSQL connections a replica keeps open. A transaction beyond them opens a"
            " connection of its own and closes it after: a pool smaller than the transactions"
            " a replica runs at once spends its time connecting."
        ),
    )
    database_pool_overflow: int = Field(
        default=10, ge=0, description="Connections opened beyond the pool at a peak."
    )
    data_dir: Path = Path(".data")

    http_host: str = "127.0.0.1"
    http_port: int = 8080

    migrate_on_start: bool = True
    """Migrate the database when the service starts (off where a migration job runs)."""
    database_wait_seconds: float = Field(default=60.0, ge=0)
    """How long a starting service (or a migration job) waits for a database that refuses
    connections, as one does while it restarts or fails over, before it gives up."""
    provision_streams: bool = True
    """Create or update the JetStream streams at start (off where they are managed)."""
    stream_replicas: int = Field(default=1, ge=1, le=5)

    graceful_timeout_seconds: float = 15.0
    max_deliver: int = Field(default=8, ge=1, description="Deliveries before dead-lettering.")
    request_timeout_seconds: float = 5.0
    outbox_poll_seconds: float = 1.0
    outbox_retention_hours: float = Field(
        default=7 * 24,
        gt=0,
        description=(
            "How long a published outbox row is kept for a replay (`republish_since`) before"
            " it is pruned; the streams keep their messages 7 days. Unsent rows are kept."
        ),
    )

    outbound_allow: str = Field(
        default="",
        description=(
            "Comma-separated CIDRs, addresses or host names that outbound calls (PSA sites,"
            " vendor APIs) may reach although they are not public: a self-hosted PSA on the"
            " MSP's network. Empty: public addresses only. The embedded runtime allows"
            " loopback for its simulators."
        ),
    )
    outbound_require_https: bool | None = Field(
        default=None, description="Refuse plain http outbound; default: only in prod."
    )

    def outbound_policy(self) -> OutboundPolicy:
        """The policy every outbound HTTP call to a user-given address goes through."""
        require_https = self.outbound_require_https
        if require_https is None:
            require_https = self.environment == "prod"
        return OutboundPolicy.from_settings(self.outbound_allow, require_https=require_https)

    def resolved_database_url(self) -> str:
        """The configured URL, or this service's own SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"

    def resolved_schema(self) -> str:
        """The PostgreSQL schema this service owns."""
        return self.database_schema or self.service_name


def secret_value(secret: SecretStr | None) -> str | None:
    """Unwrap an optional secret at the last moment, never for logging."""
    return secret.get_secret_value() if secret is not None else None


#: Keys anyone can read in this repository (the development overlay's Secret): they seal
#: nothing in production.
PUBLISHED_CREDENTIAL_KEYS = frozenset({"LBVZKjI2_78ACFRcPry-7I6QlZ34RKH9WjAkM6VQSvQ="})


class CredentialKeySettings(BaseSettings):
    """For services that seal or open secrets (psa_sync, writeback, vendor_ingestion).

    One keyring for every secret at rest: PSA credentials, connector credentials, webhook
    signing secrets. Keys come from `TRUEUP_CREDENTIAL_KEYS`, or from the file named by
    `TRUEUP_CREDENTIAL_KEYS_FILE` (a mounted secret), never from the data folder.
    """

    model_config = SettingsConfigDict(env_prefix="TRUEUP_", extra="ignore", frozen=True)

    credential_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated Fernet keys; the first seals, any opens (rotation).",
    )
    credential_keys_file: Path | None = Field(
        default=None,
        description=(
            "A file holding the keys (comma- or line-separated), e.g. a mounted Kubernetes"
            " secret; read when TRUEUP_CREDENTIAL_KEYS is empty."
        ),
    )

    def _keys(self) -> list[str]:
        text = self.credential_keys.get_secret_value()
        if not text.strip() and self.credential_keys_file is not None:
            data_dir = getattr(self, "data_dir", None)
            if getattr(self, "environment", None) == "prod" and data_dir is not None:
                # A key beside the databases it protects protects nothing: whoever copies
                # the data folder (a backup, a volume snapshot) gets both.
                keys_path = self.credential_keys_file.resolve()
                if keys_path.is_relative_to(Path(data_dir).resolve()):
                    raise RuntimeError(
                        "TRUEUP_CREDENTIAL_KEYS_FILE is inside the data folder; in production"
                        " mount the keys elsewhere or pass TRUEUP_CREDENTIAL_KEYS"
                    )
            text = self.credential_keys_file.read_text()
        return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]

    def credential_sealer(self) -> CredentialSealer:
        """The sealer for secrets at rest; fails clearly when no key is configured, and in
        production when a key is one this repository publishes."""
        keys = self._keys()
        if not keys:
            raise RuntimeError(
                "TRUEUP_CREDENTIAL_KEYS (or TRUEUP_CREDENTIAL_KEYS_FILE) is not set: secrets"
                " at rest cannot be sealed or opened"
            )
        if getattr(self, "environment", None) == "prod" and PUBLISHED_CREDENTIAL_KEYS & set(keys):
            raise RuntimeError(
                "TRUEUP_CREDENTIAL_KEYS holds the development key published with TrueUp's"
                " manifests; in production generate keys of your own"
                " (Fernet.generate_key(), see docs/security.md)"
            )
        return CredentialSealer(keys)
