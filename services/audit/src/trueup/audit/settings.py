from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """audit settings (`TRUEUP_*`)."""

    service_name: str = "audit"
    http_port: int = 8015
