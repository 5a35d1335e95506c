"""What a saved view may hold: bounded in every dimension, unknown fields refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from trueup.gateway.identity.text import SafeText

MAX_BYTES = 8 * 1024
"""The largest request body a preference is stored from (a full list view needs ~1 KiB)."""

PreferenceName = Literal["list-view"]
"""The names a preference can be saved under: a fixed set, so a caller cannot fill the
table with documents of its own naming."""

ColumnId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
"""A column of the grid. The server does not list the columns: the UI ignores ids it no
longer has, so a saved view survives a column being renamed or removed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SortKey(_Strict):
    id: ColumnId
    desc: bool = False


class ColumnFilter(_Strict):
    id: ColumnId
    value: SafeText = Field(max_length=200)


class ListView(_Strict):
    """The list view as a user left it."""

    group_by: Literal["none", "account_name", "service_line", "contract_name"] = "account_name"
    hidden_columns: list[ColumnId] = Field(default_factory=list, max_length=40)
    column_widths: dict[ColumnId, Annotated[int, Field(ge=20, le=2000)]] = Field(
        default_factory=dict, max_length=40, description="Width in CSS pixels, by column"
    )
    sorting: list[SortKey] = Field(default_factory=list, max_length=5)
    filters: list[ColumnFilter] = Field(default_factory=list, max_length=40)
    show_unchanged: bool = False
    show_actioned: bool = False
