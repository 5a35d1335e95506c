from trueup.platform.service import run_service
from trueup.vendor_ingestion.main import MIGRATIONS, build
from trueup.vendor_ingestion.settings import Settings

run_service(Settings, build, MIGRATIONS)
