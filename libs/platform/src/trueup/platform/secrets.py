"""Sealing credentials at rest (Fernet from `cryptography`: AES-CBC + HMAC, authenticated)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialsSealError(Exception):
    """A sealed value could not be opened with any configured key."""


class CredentialSealer:
    """Seals and opens small JSON documents. Several keys allow rotation: the first seals,
    any opens (`rotate` re-seals with the first)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one credential key is required")
        fernets = [Fernet(k.encode()) for k in keys]
        self._primary = fernets[0]
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def generate_key() -> str:
        """A new random key, for settings."""
        return Fernet.generate_key().decode()

    def seal(self, document: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(document, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise CredentialsSealError("sealed credentials do not open with any key") from exc
        return value

    def rotate(self, sealed: str) -> str:
        return self._fernet.rotate(sealed.encode()).decode()

    def is_current(self, sealed: str) -> bool:
        """Whether the value is sealed with the first key (else `rotate` it)."""
        try:
            self._primary.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True
