from trueup.platform.service import run_service
from trueup.psa_sync.main import MIGRATIONS, build
from trueup.psa_sync.settings import Settings

run_service(Settings, build, MIGRATIONS)
