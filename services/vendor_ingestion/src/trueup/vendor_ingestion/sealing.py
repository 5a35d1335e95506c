"""Secrets at rest: connector credentials and webhook signing secrets, sealed.

Both are sealed with the platform keyring (`TRUEUP_CREDENTIAL_KEYS`, Fernet; the first
key seals, every key opens) like psa_sync's PSA credentials, so a copy of the database
(a backup, a replica, a stolen volume) holds no usable secret.

A connector's `config` column keeps a single key, `sealed`, holding the whole
configuration (base URL included: it says which vendor account the credentials reach).
A webhook secret's column holds the sealed `{"secret": ...}` document.
"""

from __future__ import annotations

from typing import Any

from trueup.platform.secrets import CredentialSealer

SEALED = "sealed"


def seal_config(sealer: CredentialSealer, config: dict[str, Any]) -> dict[str, Any]:
    """A connector configuration as it is stored."""
    return {SEALED: sealer.seal(config)}


def open_config(sealer: CredentialSealer, stored: dict[str, Any]) -> dict[str, Any]:
    """A stored connector configuration, opened (in memory only)."""
    if set(stored) != {SEALED}:
        raise ValueError("the connector configuration is not sealed; run the migrations")
    return sealer.open(str(stored[SEALED]))


def is_sealed_config(stored: dict[str, Any]) -> bool:
    """Whether a stored configuration is already sealed (for the data migration)."""
    return set(stored) == {SEALED}


def seal_secret(sealer: CredentialSealer, secret: str) -> str:
    """A webhook signing secret as it is stored."""
    return sealer.seal({"secret": secret})


def open_secret(sealer: CredentialSealer, stored: str) -> str:
    """A stored webhook signing secret, opened."""
    return str(sealer.open(stored)["secret"])


def is_sealed_secret(stored: str) -> bool:
    """Whether a stored signing secret is sealed (plain ones carry the `whsec_` prefix)."""
    return not stored.startswith("whsec_")
