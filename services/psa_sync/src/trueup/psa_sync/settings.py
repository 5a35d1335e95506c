from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """psa_sync settings (`TRUEUP_*`)."""

    service_name: str = "psa_sync"
    http_port: int = 8011
