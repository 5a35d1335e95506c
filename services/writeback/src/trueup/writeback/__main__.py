from trueup.platform.service import run_service
from trueup.writeback.main import MIGRATIONS, build
from trueup.writeback.settings import Settings

run_service(Settings, build, MIGRATIONS)
