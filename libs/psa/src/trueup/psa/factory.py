"""Build the right `PsaClient` from a connection's credentials (through `registry.PSAS`)."""

from __future__ import annotations

import dataclasses

import httpx

from trueup.psa.autotask import AutotaskCredentials
from trueup.psa.base import PsaClient, RetryPolicy
from trueup.psa.connectwise import ConnectWiseCredentials
from trueup.psa.halo import HaloCredentials
from trueup.psa.registry import plugin_for_credentials, psa_plugin

PsaCredentials = ConnectWiseCredentials | AutotaskCredentials | HaloCredentials


def create_client(
    credentials: PsaCredentials,
    *,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PsaClient:
    """A client for the PSA the credentials belong to (use it as an async context manager)."""
    plugin = plugin_for_credentials(credentials)
    return plugin.client(credentials, timeout=timeout, retry=retry, transport=transport)


def credentials_from_dict(psa: str, values: dict[str, str]) -> PsaCredentials:
    """Build a PSA's credentials from stored fields; unknown PSA or fields raise ValueError."""
    kind: type[PsaCredentials] = psa_plugin(psa).credentials
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
    psa = plugin_for_credentials(credentials).kind.value
    values = {k: v for k, v in dataclasses.asdict(credentials).items() if v is not None}
    return psa, {k: str(v) for k, v in values.items()}


def credential_urls(credentials: PsaCredentials) -> list[str]:
    """Every URL the client will call first, from its credentials (checked when saved)."""
    return credentials.first_urls()
