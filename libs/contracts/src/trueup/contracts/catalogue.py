"""Every message TrueUp sends: the core flows, plus the areas that keep their own modules.

Kept apart from `messages` so that any contracts module can be imported first.
"""

from __future__ import annotations

from trueup.contracts import ingest, recon
from trueup.contracts.messages import CORE_SPECS, MessageSpec

CATALOGUE: tuple[MessageSpec, ...] = (*CORE_SPECS, *ingest.SPECS, *recon.SPECS)
