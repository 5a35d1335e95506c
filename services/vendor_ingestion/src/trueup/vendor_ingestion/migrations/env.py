from trueup.platform.migrations import SealedColumn, run_alembic_env
from trueup.vendor_ingestion.models import metadata

run_alembic_env(
    metadata,
    sealed_columns=[
        SealedColumn("webhook_secrets", ("tenant_id", "secret_id"), "secret"),
        SealedColumn("connectors", ("tenant_id", "connector_id"), "config", json_field="sealed"),
    ],
)
