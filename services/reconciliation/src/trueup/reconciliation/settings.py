from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Reconciliation settings (`TRUEUP_*`)."""

    service_name: str = "reconciliation"
    http_port: int = 8013
