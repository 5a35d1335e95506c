from trueup.audit.main import build
from trueup.audit.settings import Settings
from trueup.platform.service import run_service

run_service(Settings, build)
