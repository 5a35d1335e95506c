"""The embedded demo's credential key: generated once, kept apart from the data it seals.

Production reads its keys from the environment or a mounted file (see
`CredentialKeySettings`). The demo has nobody to hand it a key, so the runtime makes
one and keeps it in `.credentials/` beside (not inside) `.data/`: a copy of the data
folder then holds sealed secrets without the key to open them. The folder is 0700 and
the file 0600, and the key reaches the services through their environment only.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from trueup.platform.secrets import CredentialSealer

KEYRING_DIR = ".credentials"
KEYRING_FILE = "credential-keys"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    # Created 0600 from the start: a key must never exist, even briefly, readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _legacy_key(legacy: Path | None) -> str | None:
    """The key an older runtime kept in the data folder's demo-credentials file, removed
    from there (the demo's sealed rows need it, the data folder must not hold it)."""
    if legacy is None or not legacy.exists():
        return None
    with contextlib.suppress(ValueError, OSError):
        stored = json.loads(legacy.read_text())
        key = stored.pop("credential_key", None)
        if key:
            _write_private(legacy, json.dumps(stored, indent=2))
            return str(key)
    return None


def demo_credential_keys(root: Path, *, legacy: Path | None = None) -> str:
    """The demo's keys (`TRUEUP_CREDENTIAL_KEYS` form), from `root/.credentials/`, made on
    first use (or moved there from `legacy`, the old place in the data folder)."""
    path = root / KEYRING_DIR / KEYRING_FILE
    moved = _legacy_key(legacy)
    existing = path.read_text().strip() if path.exists() else ""
    if existing and not moved:
        path.parent.chmod(0o700)
        path.chmod(0o600)
        return existing
    # Both: keep sealing with the current key, and still open what the old one sealed.
    keys = ",".join(k for k in (existing, moved) if k) or CredentialSealer.generate_key()
    _write_private(path, keys + "\n")
    return keys
