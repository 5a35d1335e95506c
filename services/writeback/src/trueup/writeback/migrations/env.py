from trueup.platform.migrations import run_alembic_env
from trueup.writeback.models import metadata

run_alembic_env(metadata)
