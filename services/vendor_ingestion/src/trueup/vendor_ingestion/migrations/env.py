from trueup.platform.migrations import run_alembic_env
from trueup.vendor_ingestion.models import metadata

run_alembic_env(metadata)
