from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Vendor ingestion settings (`TRUEUP_*`)."""

    service_name: str = "vendor_ingestion"
    http_port: int = 8012
    demo_tenant_id: str | None = None
    """When set (the embedded runtime sets `demo`), seed that tenant's demo usage."""
    usage_batch_size: int = 1000
    idempotency_retention_days: int = 400
