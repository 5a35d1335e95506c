from trueup.audit.main import MIGRATIONS, build
from trueup.audit.settings import Settings
from trueup.platform.service import run_service

run_service(Settings, build, MIGRATIONS)
