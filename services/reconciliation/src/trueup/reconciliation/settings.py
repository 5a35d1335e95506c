from typing import Literal

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
    cycle_tick_seconds: float = Field(
        default=300.0,
        gt=0,
        description=(
            "How often idle tenants' billing cycles are checked and, once due, closed "
            "(their cards kept read-only) and recomputed into the new cycle."
        ),
    )
    usage_lanes: list[Literal["live", "bulk"]] = Field(
        default=["live", "bulk"],
        min_length=1,
        description=(
            "Which usage this replica applies: `live` (webhooks, pushes) and `bulk` "
            "(imports, connector polls). A deployment may run the lanes apart, so that "
            "imports never take CPU from webhooks."
        ),
    )
