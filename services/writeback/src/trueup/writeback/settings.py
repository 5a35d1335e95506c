from pydantic import Field

from trueup.platform.settings import CredentialKeySettings, ServiceSettings


class Settings(ServiceSettings, CredentialKeySettings):
    """writeback settings (`TRUEUP_*`)."""

    service_name: str = "writeback"
    http_port: int = 8014

    writeback_concurrency: int = Field(
        default=16, ge=1, description="Jobs driven at once by one process."
    )
    # A job being driven holds a connection while it commits a phase. With the shared
    # default of five, a replica driving sixteen jobs opened and closed ten connections
    # a second under load; the consumer, the claims and the relay use the overflow.
    database_pool_size: int = Field(
        default=16, ge=1, description="PostgreSQL connections a replica keeps open."
    )
    writeback_max_attempts: int = Field(
        default=8, ge=1, description="Attempts of a job before it is dead-lettered."
    )
    writeback_retry_base_seconds: float = Field(
        default=2.0, gt=0, description="First backoff between attempts; doubles each time."
    )
    writeback_retry_max_seconds: float = Field(default=300.0, gt=0)
    writeback_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claimed job stays with its process without a heartbeat.",
    )
    writeback_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the worker looks for due jobs unprompted."
    )
    psa_timeout_seconds: float = Field(default=30.0, gt=0)
    psa_max_attempts: int = Field(
        default=4, ge=1, description="Retries of one PSA request inside a job attempt."
    )
    psa_initial_backoff_seconds: float = Field(default=0.5, gt=0)
    psa_max_backoff_seconds: float = Field(default=10.0, gt=0)
    psa_client_ttl_seconds: float = Field(
        default=300.0, gt=0, description="How long a PSA client (and its credentials) is reused."
    )
