from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """writeback settings (`TRUEUP_*`)."""

    service_name: str = "writeback"
    http_port: int = 8014
