"""Who is calling, as established from the credential alone."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trueup.contracts.messages import Actor


class Role(StrEnum):
    ADMIN = "admin"
    BILLING = "billing"
    VIEWER = "viewer"


# What each role may do; a role includes the permissions of the roles below it.
_RANK = {Role.VIEWER: 0, Role.BILLING: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: its tenant comes from the credential, never from a path or a body."""

    tenant_id: str
    role: Role
    kind: str  # "user" or "api_key"
    subject_id: str
    name: str
    via_cookie: bool = False
    session_id: str | None = None
    """The server-side session of a cookie caller (what logout and CSRF are bound to)."""
    tenant_active: bool = True
    """False while an operator has the tenant suspended or is deleting it: every call is
    refused."""

    def allows(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]

    def actor(self) -> Actor:
        return Actor(
            kind="user" if self.kind == "user" else "api_key", id=self.subject_id, name=self.name
        )
