from trueup.gateway.main import MIGRATIONS, build
from trueup.gateway.settings import Settings
from trueup.platform.service import run_service

run_service(Settings, build, MIGRATIONS)
