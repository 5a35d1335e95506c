from trueup.gateway.models import metadata
from trueup.platform.migrations import run_alembic_env

run_alembic_env(metadata)
