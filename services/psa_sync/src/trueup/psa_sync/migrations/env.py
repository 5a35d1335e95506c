from trueup.platform.migrations import run_alembic_env
from trueup.psa_sync.models import metadata

run_alembic_env(metadata)
