from datetime import timedelta

from trueup.platform.settings import CredentialKeySettings, ServiceSettings


class Settings(ServiceSettings, CredentialKeySettings):
    """psa_sync settings (`TRUEUP_*`)."""

    service_name: str = "psa_sync"
    http_port: int = 8011
    sync_interval_seconds: int = 900
    """How often each connection syncs incrementally on its own."""
    full_sync_every: int = 24
    """A sync is a full one, which also notices deletions, once the last full one is this
    many sync intervals old (6 hours by default). Syncs asked for in between (after each
    writeback, or "sync now") stay incremental unless they ask for a full one."""

    def full_sync_after(self) -> timedelta:
        return timedelta(seconds=self.sync_interval_seconds * self.full_sync_every)

    snapshot_batch_size: int = 500
    scheduler_tick_seconds: float = 1.0
    refresh_delay_seconds: float = 1.0
    """How soon after a writeback its contract is read again. The writebacks of that
    moment share one read: a tenant approving cards one by one would otherwise cost a
    read, and a batch for reconciliation to apply, per approval. The card shows the
    writeback's outcome meanwhile."""
    psa_timeout_seconds: float = 30.0
    psa_retry_seconds: float = 300.0
    """How long one PSA call keeps retrying 429s and 5xx before the sync gives up."""
    psa_test_seconds: float = 4.0
    """The whole budget of a "test connection" call, retries included: below the
    gateway's query timeout (5 s), so the admin hears the PSA's answer, not a 503."""
    demo_tenant_id: str | None = None
    """When set (the embedded runtime sets `demo`), connect that tenant to the demo PSA."""
    demo_connectwise_url: str = "http://127.0.0.1:8101"
