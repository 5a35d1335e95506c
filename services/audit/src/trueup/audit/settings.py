from pydantic import Field

from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """audit settings (`TRUEUP_*`)."""

    service_name: str = "audit"
    http_port: int = 8015

    activity_retention_days: int = Field(default=14, ge=1, le=3650)
    """Retention of a tenant that has not chosen its own (the product promises two weeks)."""
    purge_interval_seconds: float = Field(default=3600.0, gt=0)
    """How often the purge job runs; entries are hidden from queries at the exact cutoff
    anyway, so this only bounds how long expired rows stay on disk."""
    purge_batch_size: int = Field(default=500, ge=1, le=10_000)
    """Rows deleted per transaction, so a large purge never holds long locks."""
