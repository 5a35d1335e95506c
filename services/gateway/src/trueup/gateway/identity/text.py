"""Text that names people and accounts: no characters that hide or reorder what is shown.

A NUL byte truncates in C libraries and some databases; bidi controls make
"Ann\u202egpj.exe" display as "Annexe.jpg" in the activity log, an email or the admin list.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

# NUL, the Arabic letter mark, LRM/RLM, the embeddings and overrides (LRE..RLO) and the
# isolates (LRI..PDI).
_HIDDEN = re.compile("[\x00\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _no_hidden_characters(value: str) -> str:
    found = _HIDDEN.search(value)
    if found:
        raise ValueError(
            f"must not contain the control character U+{ord(found.group()):04X} "
            "(NUL or a bidirectional control)"
        )
    return value


SafeText = Annotated[str, AfterValidator(_no_hidden_characters)]
"""A string without NUL or bidirectional control characters."""


_JSON_NUL = re.compile(rb"\\u0000")


async def refuse_nul_in_json(request: Request) -> None:
    """Answer 422, naming the field, for a NUL anywhere in a JSON body.

    PostgreSQL cannot store U+0000 in text, so a NUL that passed a field's own validation
    would fail its transaction and answer 500 in whichever service stored it. Fields that
    name people and things (`SafeText`) refuse more; this catches every other string.
    """
    if "json" not in request.headers.get("content-type", ""):
        return
    body = await request.body()
    if not _JSON_NUL.search(body):
        return
    try:
        document = json.loads(body)
    except ValueError:
        return  # FastAPI has answered 422 for this already
    path = _path_to_nul(document)
    if path is not None:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", *path),
                    "msg": "must not contain the control character U+0000 (NUL)",
                }
            ]
        )


def _path_to_nul(value: object, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return (*path, key)
            found = _path_to_nul(item, (*path, key))
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _path_to_nul(item, (*path, index))
            if found is not None:
                return found
    return None
