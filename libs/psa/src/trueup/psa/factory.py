"""Build the right `PsaClient` from a connection's credentials."""

from __future__ import annotations

import dataclasses

import httpx

from trueup.psa.autotask import AutotaskClient, AutotaskCredentials
from trueup.psa.base import PsaClient, RetryPolicy
from trueup.psa.connectwise import ConnectWiseClient, ConnectWiseCredentials
from trueup.psa.halo import HaloClient, HaloCredentials

PsaCredentials = ConnectWiseCredentials | AutotaskCredentials | HaloCredentials


def create_client(
    credentials: PsaCredentials,
    *,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PsaClient:
    """A client for the PSA the credentials belong to (use it as an async context manager)."""
    if isinstance(credentials, ConnectWiseCredentials):
        return ConnectWiseClient(credentials, timeout=timeout, retry=retry, transport=transport)
    if isinstance(credentials, AutotaskCredentials):
        return AutotaskClient(credentials, timeout=timeout, retry=retry, transport=transport)
    return HaloClient(credentials, timeout=timeout, retry=retry, transport=transport)


_CREDENTIAL_TYPES: dict[str, type[PsaCredentials]] = {
    "connectwise": ConnectWiseCredentials,
    "autotask": AutotaskCredentials,
    "halo": HaloCredentials,
}


def credentials_from_dict(psa: str, values: dict[str, str]) -> PsaCredentials:
    """Build a PSA's credentials from stored fields; unknown PSA or fields raise ValueError."""
    try:
        kind = _CREDENTIAL_TYPES[psa]
    except KeyError:
        raise ValueError(
            f"unknown PSA {psa!r}; expected one of {sorted(_CREDENTIAL_TYPES)}"
        ) from None
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {psa} credential fields: {', '.join(unknown)}")
    try:
        return kind(**values)
    except TypeError as exc:
        raise ValueError(f"incomplete {psa} credentials: {exc}") from exc


def credentials_to_dict(credentials: PsaCredentials) -> tuple[str, dict[str, str]]:
    """The PSA name and the fields of its credentials, for sealing."""
    for psa, kind in _CREDENTIAL_TYPES.items():
        if isinstance(credentials, kind):
            values = {k: v for k, v in dataclasses.asdict(credentials).items() if v is not None}
            return psa, {k: str(v) for k, v in values.items()}
    raise TypeError(f"not PSA credentials: {type(credentials).__name__}")


def credential_urls(credentials: PsaCredentials) -> list[str]:
    """Every URL the client will call first, from its credentials (checked when saved)."""
    if isinstance(credentials, ConnectWiseCredentials):
        site = credentials.site.strip().rstrip("/")
        return [site if site.startswith(("http://", "https://")) else f"https://{site}"]
    if isinstance(credentials, AutotaskCredentials):
        return [u for u in (credentials.zone_url, credentials.zone_lookup_url) if u]
    return [u for u in (credentials.base_url, credentials.auth_url) if u]
