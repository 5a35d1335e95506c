from pathlib import Path

from trueup.platform.settings import CredentialKeySettings, ServiceSettings


class Settings(ServiceSettings, CredentialKeySettings):
    """Vendor ingestion settings (`TRUEUP_*`)."""

    service_name: str = "vendor_ingestion"
    http_port: int = 8012
    demo_tenant_id: str | None = None
    """When set (the embedded runtime sets `demo`), that tenant gets the three demo
    connectors, pointed at the vendor simulators, and they are polled once at start."""
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

    simulator_host: str = "127.0.0.1"
    pax8_url: str | None = None
    ninjaone_url: str | None = None
    huntress_url: str | None = None

    def resolved_scratch_dir(self) -> Path:
        return self.scratch_dir or self.data_dir / "imports"

    def simulator_url(self, vendor: str) -> str:
        """Where the demo connectors find a vendor's simulator (ports 8111-8113)."""
        configured = {
            "pax8": self.pax8_url,
            "ninjaone": self.ninjaone_url,
            "huntress": self.huntress_url,
        }[vendor]
        port = {"pax8": 8111, "ninjaone": 8112, "huntress": 8113}[vendor]
        return configured or f"http://{self.simulator_host}:{port}"
