from trueup.platform.migrations import SealedColumn, run_alembic_env
from trueup.psa_sync.models import metadata

run_alembic_env(
    metadata,
    sealed_columns=[
        SealedColumn("connections", ("tenant_id", "connection_id"), "sealed_credentials")
    ],
)
