"""Pages of a list answer that fit in one broker message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel

PAGE_BYTES = 640 * 1024
"""The most a page's items take as JSON: a list query's answer, with its totals and
cursor, stays within the broker's default message limit (1 MB) however large the `limit`
asked; the caller follows `next_cursor` for the rest."""

M = TypeVar("M", bound=BaseModel)


def within_page_bytes(items: Sequence[M]) -> list[M]:
    """The longest prefix of `items` whose JSON fits `PAGE_BYTES`, at least one item.

    A page cut here ends early, so its next cursor must follow the last item kept.
    """
    used = 0
    for count, item in enumerate(items):
        used += len(item.model_dump_json()) + 1
        if used > PAGE_BYTES and count > 0:
            return list(items[:count])
    return list(items)
