from trueup.platform.service import run_service
from trueup.reconciliation.main import MIGRATIONS, build
from trueup.reconciliation.settings import Settings

run_service(Settings, build, MIGRATIONS)
