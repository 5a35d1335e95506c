"""Text that names people and accounts: no characters that hide or reorder what is shown.

A NUL byte truncates in C libraries and some databases; bidi controls make
"Ann\u202egpj.exe" display as "Annexe.jpg" in the activity log, an email or the admin list.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# NUL, LRM/RLM, the embeddings and overrides (LRE..RLO) and the isolates (LRI..PDI).
_HIDDEN = re.compile("[\x00\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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
