from pydantic import Field

from trueup.platform.settings import ServiceSettings


class Settings(ServiceSettings):
    """Reconciliation settings (`TRUEUP_*`)."""

    service_name: str = "reconciliation"
    http_port: int = 8013
    index_budget_rows: int = Field(
        default=1_000_000,
        ge=0,
        description=(
            "Rows (line items, usage records, cards) of recently active tenants kept in "
            "memory for incremental reconciliation; about 200 bytes each. 0 turns it off."
        ),
    )
