"""Session tokens (JWT, HS256, PyJWT) and the CSRF token bound to a session.

Several keys can be configured: the first signs, every one verifies, so a key is rotated
by putting a new one first and dropping the old one once the sessions it signed expired.
The CSRF token is an HMAC of the session id under a key derived from each signing key:
only this server can compute it, and it is worth nothing with another session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

_ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "sub", "tid", "sid", "typ"]
_CSRF_CONTEXT = b"trueup csrf token v1"


class SessionKeys:
    """Signs and verifies session tokens and CSRF tokens with the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one session key is needed")
        self._keys = [key.encode() for key in keys]
        # A separate key per purpose: a CSRF token must never double as a signature.
        self._csrf_keys = [
            hmac.new(key, _CSRF_CONTEXT, hashlib.sha256).digest() for key in self._keys
        ]

    def issue(
        self, *, user_id: str, tenant_id: str, session_id: str, kind: str, lifetime: timedelta
    ) -> str:
        """A token of `kind` ("access" or "refresh") for this session, signed with key one."""
        now = datetime.now(UTC)
        claims = {
            "sub": user_id,
            "tid": tenant_id,
            "sid": session_id,
            "typ": kind,
            "iat": now,
            "exp": now + lifetime,
        }
        return jwt.encode(claims, self._keys[0], algorithm=_ALGORITHM)

    def read(self, token: str, kind: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token of `kind` signed by any key, else None."""
        if not token:
            return None
        for key in self._keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key, algorithms=[_ALGORITHM], options={"require": _REQUIRED}
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                return None
            return claims if claims.get("typ") == kind else None
        return None

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of this session (under the signing key)."""
        return _mac(self._csrf_keys[0], session_id)

    def csrf_matches(self, session_id: str, token: str) -> bool:
        """Whether `token` is this session's CSRF token under any key (constant time)."""
        if not token:
            return False
        sent = token.encode()
        matches = [
            hmac.compare_digest(sent, _mac(key, session_id).encode()) for key in self._csrf_keys
        ]
        return any(matches)


def _mac(key: bytes, session_id: str) -> str:
    digest = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
