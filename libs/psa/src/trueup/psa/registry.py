"""Every PSA TrueUp connects to, in one table: its name, credentials, client and capabilities.

Code that must act differently for one PSA reads its `Capabilities` (here, or from
`PsaClient.capabilities()`) or calls a `PsaClient` method each client implements in
its own way; it never compares PSA names or client classes. A new PSA is a client
module and one row in `PSAS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

import httpx

from trueup.psa import autotask, connectwise, halo
from trueup.psa.base import PsaClient, RetryPolicy
from trueup.psa.models import Capabilities, PsaKind

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)


class ClientFactory(Protocol[C_contra]):
    """How a PSA's client is made from its credentials (the client class itself)."""

    def __call__(
        self,
        credentials: C_contra,
        *,
        timeout: float = ...,
        retry: RetryPolicy | None = ...,
        transport: httpx.AsyncBaseTransport | None = ...,
    ) -> PsaClient: ...


@dataclass(frozen=True, slots=True)
class PsaPlugin(Generic[C]):
    """One PSA: the name connections and messages carry, and what it takes to talk to it."""

    kind: PsaKind
    credentials: type[C]
    client: ClientFactory[C]
    capabilities: Capabilities


PSAS: Mapping[PsaKind, PsaPlugin[Any]] = MappingProxyType(
    {
        PsaKind.CONNECTWISE: PsaPlugin(
            PsaKind.CONNECTWISE,
            connectwise.ConnectWiseCredentials,
            connectwise.ConnectWiseClient,
            connectwise.CAPABILITIES,
        ),
        PsaKind.AUTOTASK: PsaPlugin(
            PsaKind.AUTOTASK,
            autotask.AutotaskCredentials,
            autotask.AutotaskClient,
            autotask.CAPABILITIES,
        ),
        PsaKind.HALO: PsaPlugin(
            PsaKind.HALO,
            halo.HaloCredentials,
            halo.HaloClient,
            halo.CAPABILITIES,
        ),
    }
)

_BY_CREDENTIALS: Mapping[type, PsaPlugin[Any]] = MappingProxyType(
    {plugin.credentials: plugin for plugin in PSAS.values()}
)


def psa_plugin(psa: str) -> PsaPlugin[Any]:
    """The PSA of this name; ValueError for a name TrueUp does not know."""
    try:
        return PSAS[PsaKind(psa)]
    except (ValueError, KeyError):
        raise ValueError(
            f"unknown PSA {psa!r}; expected one of {sorted(k.value for k in PSAS)}"
        ) from None


def plugin_for_credentials(credentials: object) -> PsaPlugin[Any]:
    """The PSA these credentials belong to; TypeError when they are no PSA's credentials."""
    try:
        return _BY_CREDENTIALS[type(credentials)]
    except KeyError:
        raise TypeError(f"not PSA credentials: {type(credentials).__name__}") from None
