"""The PSA table: what each PSA declares it can do, and the clients it builds.

The capability table is pinned: writeback and psa_sync act on these flags alone, so a
flag that changes here changes what is written to a PSA.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from trueup.psa import (
    PSAS,
    AutotaskClient,
    AutotaskCredentials,
    Capabilities,
    ConnectWiseClient,
    ConnectWiseCredentials,
    HaloClient,
    HaloCredentials,
    PsaKind,
    create_client,
    psa_plugin,
)
from trueup.psa.factory import credential_urls, credentials_to_dict

CW = ConnectWiseCredentials("api-na.example.net", "co", "pub", "priv", "cid")
AT = AutotaskCredentials("api@example.com", "secret", "code", zone_url="https://z.example.com")
HALO = HaloCredentials("https://halo.example.com", "cid", "secret")

# psa -> (proration, proration_optional, incremental_sync, dated_changes, contract_notes,
#         audit_trail, replaces_line, deferred_quantity)
DECLARED = {
    "connectwise": (True, True, True, True, True, True, True, False),
    "autotask": (True, False, False, True, True, False, False, True),
    "halo": (False, True, False, False, False, False, False, False),
}


def test_the_capability_table_is_pinned() -> None:
    table = {kind.value: dataclasses.astuple(p.capabilities) for kind, p in PSAS.items()}
    assert table == DECLARED
    assert [f.name for f in dataclasses.fields(Capabilities)] == [
        "proration", "proration_optional", "incremental_sync", "dated_changes",
        "contract_notes", "audit_trail", "replaces_line", "deferred_quantity",
    ]  # fmt: skip


def test_every_psa_kind_has_one_row() -> None:
    assert set(PSAS) == set(PsaKind)
    assert all(plugin.kind is kind for kind, plugin in PSAS.items())


@pytest.mark.parametrize(
    ("credentials", "client_type"),
    [(CW, ConnectWiseClient), (AT, AutotaskClient), (HALO, HaloClient)],
)
async def test_the_row_builds_its_client_and_the_client_declares_the_row(
    credentials: Any, client_type: type[Any]
) -> None:
    async with create_client(credentials) as client:
        assert type(client) is client_type
        plugin = PSAS[client.kind]
        assert plugin.credentials is type(credentials)
        assert client.capabilities() == plugin.capabilities
        assert credentials_to_dict(credentials)[0] == client.kind.value


def test_a_name_finds_its_row_and_an_unknown_one_is_refused() -> None:
    assert psa_plugin("autotask").credentials is AutotaskCredentials
    with pytest.raises(ValueError, match="unknown PSA 'kaseya'"):
        psa_plugin("kaseya")
    with pytest.raises(TypeError, match="not PSA credentials"):
        credentials_to_dict(object())  # type: ignore[arg-type]


def test_first_urls_come_from_each_psa_s_credentials() -> None:
    assert credential_urls(CW) == ["https://api-na.example.net"]
    assert credential_urls(AT) == [
        "https://z.example.com",
        "https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation",
    ]
    assert credential_urls(HALO) == ["https://halo.example.com"]
