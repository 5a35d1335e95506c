from pathlib import Path

from pydantic import Field

from trueup.platform.settings import CredentialKeySettings, ServiceSettings


class Settings(ServiceSettings, CredentialKeySettings):
    """Vendor ingestion settings (`TRUEUP_*`)."""

    service_name: str = "vendor_ingestion"
    http_port: int = 8012
    demo_tenant_id: str | None = None
    """When set (the embedded runtime sets `demo`), that tenant gets `demo_connectors`,
    polled once at start."""
    demo_connectors: dict[str, dict[str, str]] = Field(default_factory=dict)
    """The demo tenant's connectors, as JSON: vendor → its connection settings
    (`base_url` and the credentials). The development stack points them at its vendor
    simulators; the service knows nothing of those."""
    usage_batch_size: int = 1000
    idempotency_retention_days: int = 400
    purge_interval_seconds: float = 24 * 60 * 60

    scratch_dir: Path | None = None
    """Where uploaded files are copied while being read (default: data_dir/imports)."""

    webhook_max_body_bytes: int = 1024 * 1024
    webhook_tolerance_seconds: int = 5 * 60

    connector_tick_seconds: float = 30.0
    """How often the scheduler looks for due connectors."""
    connector_retry_seconds: int = 60
    """A failed poll is retried this soon rather than at the next regular slot."""
    connector_test_seconds: float = 4.0
    """A connection test's budget: under the gateway's query timeout (5 s), so the admin
    hears the outcome rather than a 503."""

    def resolved_scratch_dir(self) -> Path:
        return self.scratch_dir or self.data_dir / "imports"
