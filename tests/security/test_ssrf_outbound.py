"""Issue #16 item 5: outbound calls to user-given addresses (SSRF).

Before the fix a PSA connection's `site` could name any host: psa_sync fetched services
on 127.0.0.1 and echoed the first 80 characters of their answer in `last_error`, which
every viewer reads; a test call against a failing host retried for 300 s behind the
gateway's 5 s timeout.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from tests.conftest import Databases
from tests.support import eventually, running_service, settings_for
from trueup.contracts import messages as m
from trueup.contracts import wrap
from trueup.devstack.psa_simulators.server import SimulatorServer
from trueup.platform.broker import ask
from trueup.platform.outbound import (
    GuardedTransport,
    OutboundPolicy,
    UnsafeDestinationError,
    is_public_address,
)
from trueup.platform.secrets import CredentialSealer
from trueup.psa_sync import service
from trueup.psa_sync.main import build
from trueup.psa_sync.settings import Settings

SECRET = "INTERNAL-ONLY-7f3a9c"  # what the "internal service" answers; must never leak
ACTOR = m.Actor(kind="user", id="u1", name="Admin")
GATEWAY_QUERY_TIMEOUT = 5.0


class _Internal:
    """A service on loopback that the server can reach but users must not read."""

    def __init__(self, status: int = 200) -> None:
        self.hits: list[dict[str, str]] = []
        self.status = status
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def anything(path: str, request: Request) -> PlainTextResponse:
            self.hits.append({"path": path, "host": request.headers.get("host", "")})
            return PlainTextResponse(f"{SECRET} " * 20, status_code=self.status)

        self.server = SimulatorServer(app)


@pytest.fixture
def internal() -> Iterator[_Internal]:
    service_ = _Internal()
    with service_.server:
        yield service_


def _cw(site: str) -> dict[str, str]:
    return {
        "site": site,
        "company_id": "acme",
        "public_key": "pub",
        "private_key": "priv",
        "client_id": "tests",
    }


def _resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return list(table[host])

    return resolve


class TestAddressRules:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",  # cloud metadata
            "100.64.0.1",  # CGNAT
            "100.100.100.200",  # Alibaba metadata, in CGNAT
            "0.0.0.0",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",  # AWS IPv6 metadata
            "ff02::1",
            "ff0e::1",  # global-scope multicast
            "::ffff:127.0.0.1",  # IPv4-mapped
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
            "2002:7f00:1::",  # 6to4 of 127.0.0.1
        ],
    )
    def test_non_public_addresses_are_refused(self, address: str) -> None:
        assert not is_public_address(ipaddress.ip_address(address))
        assert not OutboundPolicy().address_allowed(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
    def test_public_addresses_are_allowed(self, address: str) -> None:
        assert is_public_address(ipaddress.ip_address(address))

    def test_the_allow_list_admits_networks_including_mapped_forms(self) -> None:
        policy = OutboundPolicy.from_settings("10.20.0.0/16, 127.0.0.1", require_https=True)
        assert policy.address_allowed(ipaddress.ip_address("10.20.3.4"))
        assert policy.address_allowed(ipaddress.ip_address("::ffff:10.20.3.4"))
        assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
        assert not policy.address_allowed(ipaddress.ip_address("10.21.0.1"))
        assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))

    def test_production_takes_https_only(self) -> None:
        policy = OutboundPolicy.from_settings("", require_https=True)
        with pytest.raises(UnsafeDestinationError, match="https"):
            policy.check_url("http://psa.example.com")
        policy.check_url("https://psa.example.com")
        with pytest.raises(UnsafeDestinationError):
            policy.check_url("https://user:pw@psa.example.com")
        with pytest.raises(UnsafeDestinationError):
            policy.check_url("file:///etc/passwd")

    async def test_a_name_resolving_to_any_private_address_is_refused(self) -> None:
        policy = OutboundPolicy.from_settings(
            "",
            require_https=False,
            resolver=_resolver({"mixed.test": ["93.184.216.34", "10.0.0.5"]}),
        )
        with pytest.raises(UnsafeDestinationError, match="not public"):
            await policy.check_destination("http://mixed.test/")


class TestGuardedTransport:
    def test_a_new_transport_reads_no_ca_bundle(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # psa_sync opens a client for every sync and contract refresh: building a TLS
        # context for each (two, once) was half of its CPU under load.
        policy = OutboundPolicy.from_settings("", require_https=False)
        GuardedTransport(policy)
        built: list[object] = []
        create = ssl.create_default_context
        monkeypatch.setattr(
            ssl, "create_default_context", lambda *a, **k: built.append(a) or create(*a, **k)
        )

        transports = [GuardedTransport(policy) for _ in range(3)]

        assert built == []
        assert transports[0]._pool._ssl_context is transports[2]._pool._ssl_context

    async def test_loopback_is_refused_and_nothing_is_sent(self, internal: _Internal) -> None:
        policy = OutboundPolicy.from_settings("", require_https=False)
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            for url in (internal.server.url, internal.server.url.replace("127.0.0.1", "localhost")):
                with pytest.raises(UnsafeDestinationError):
                    await client.get(url + "/secrets")
        assert internal.hits == []

    async def test_an_allowed_network_is_reached(self, internal: _Internal) -> None:
        policy = OutboundPolicy.from_settings("127.0.0.0/8", require_https=False)
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            response = await client.get(internal.server.url + "/ok")
        assert response.status_code == 200
        assert len(internal.hits) == 1

    async def test_dns_rebinding_is_caught_when_the_connection_opens(
        self, internal: _Internal
    ) -> None:
        port = httpx.URL(internal.server.url).port
        table = {"psa.rebind.test": ["93.184.216.34"]}
        policy = OutboundPolicy.from_settings("", require_https=False, resolver=_resolver(table))
        url = f"http://psa.rebind.test:{port}/companyinfo"
        await policy.check_destination(url)  # what a save-time check sees: public
        table["psa.rebind.test"] = ["127.0.0.1"]  # ... and what the name says a moment later
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            with pytest.raises(UnsafeDestinationError):
                await client.get(url)
        assert internal.hits == []

    async def test_the_checked_address_is_the_one_connected_and_the_host_is_kept(
        self, internal: _Internal
    ) -> None:
        port = httpx.URL(internal.server.url).port
        policy = OutboundPolicy.from_settings(
            "127.0.0.0/8",
            require_https=False,
            resolver=_resolver({"psa.self-hosted.test": ["127.0.0.1"]}),
        )
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            response = await client.get(f"http://psa.self-hosted.test:{port}/x")
        assert response.status_code == 200
        assert internal.hits == [{"path": "x", "host": f"psa.self-hosted.test:{port}"}]


async def _settings(databases: Databases, nats_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "credential_keys": CredentialSealer.generate_key(),
        "scheduler_tick_seconds": 0.1,
        "psa_retry_seconds": 1.0,
        "outbound_allow": "",  # as in production: loopback is not a PSA
        **overrides,
    }
    return await settings_for(Settings, databases, nats_url, **values)


async def _query(runtime: Any, tenant: str, payload: m.Payload, reply: type[Any]) -> Any:
    subject = m.subject_for(type(payload), tenant)
    return await ask(
        runtime.broker,
        subject,
        wrap(payload, tenant_id=tenant),
        reply,
        timeout=GATEWAY_QUERY_TIMEOUT,
    )


async def _store_connection(runtime: Any, settings: Settings, tenant: str, site: str) -> str:
    """A connection saved without the save-time check (as rows from before the fix are)."""
    async with runtime.database.transaction(tenant) as session:
        connection = await service.save_connection(
            session,
            settings.credential_sealer(),
            tenant,
            m.SavePsaConnection(psa="connectwise", name="CW", credentials=_cw(site), actor=ACTOR),
        )
        return connection.connection_id


class TestPsaConnections:
    async def test_saving_a_loopback_site_is_refused(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        internal: _Internal,
    ) -> None:
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            reply = await _query(
                runtime,
                tenant,
                m.SavePsaConnection(
                    psa="connectwise", name="CW", credentials=_cw(internal.server.url), actor=ACTOR
                ),
                m.PsaConnectionStatus,
            )
        assert reply.error is not None
        assert reply.error.status == 422
        assert "not a public address" in reply.error.detail
        assert internal.hits == []

    async def test_a_stored_loopback_site_is_never_fetched_nor_echoed(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        internal: _Internal,
    ) -> None:
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            connection_id = await _store_connection(runtime, settings, tenant, internal.server.url)
            reply = await _query(
                runtime,
                tenant,
                m.TestPsaConnection(connection_id=connection_id),
                m.ConnectionTestResult,
            )
            tested: m.ConnectionTestResult = reply.result

            async def failed() -> m.PsaConnectionStatus | None:
                reply = await _query(runtime, tenant, m.GetSyncStatus(), m.SyncStatus)
                status: m.PsaConnectionStatus = reply.result.connections[0]
                return status if status.last_error else None

            status = await eventually(failed, timeout=20, what="the refused sync")
        assert not tested.ok
        assert "not allowed" in tested.detail
        assert status.last_error is not None
        assert "not allowed" in status.last_error
        assert internal.hits == []

    @pytest.mark.parametrize("status_code", [200, 401, 500])
    async def test_an_allowed_self_hosted_psa_never_has_its_answer_echoed(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        internal: _Internal,
        status_code: int,
    ) -> None:
        tenant, _ = tenant_ids
        internal.status = status_code
        settings = await _settings(databases, clean_nats, outbound_allow="127.0.0.0/8")
        async with running_service(build, settings) as (runtime, _app):
            connection_id = await _store_connection(runtime, settings, tenant, internal.server.url)
            tested = await _query(
                runtime,
                tenant,
                m.TestPsaConnection(connection_id=connection_id),
                m.ConnectionTestResult,
            )

            async def failed() -> m.PsaConnectionStatus | None:
                reply = await _query(runtime, tenant, m.GetSyncStatus(), m.SyncStatus)
                status: m.PsaConnectionStatus = reply.result.connections[0]
                return status if status.last_error else None

            status = await eventually(failed, timeout=30, what="the failed sync")
        assert internal.hits, "the allowed PSA is reached"
        assert not tested.result.ok
        assert SECRET not in tested.result.detail
        assert status.last_error is not None
        assert SECRET not in status.last_error
        assert f"HTTP {status_code}" in status.last_error

    async def test_the_connection_test_answers_within_the_gateway_timeout(
        self,
        clean_nats: str,
        databases: Databases,
        tenant_ids: tuple[str, str],
        internal: _Internal,
    ) -> None:
        tenant, _ = tenant_ids
        internal.status = 503  # a PSA that keeps asking to come back later
        settings = await _settings(
            databases,
            clean_nats,
            outbound_allow="127.0.0.0/8",
            psa_retry_seconds=300.0,
            sync_interval_seconds=3600,
            scheduler_tick_seconds=3600.0,
        )
        async with running_service(build, settings) as (runtime, _app):
            connection_id = await _store_connection(runtime, settings, tenant, internal.server.url)
            started = time.monotonic()
            tested = await _query(
                runtime,
                tenant,
                m.TestPsaConnection(connection_id=connection_id),
                m.ConnectionTestResult,
            )
            took = time.monotonic() - started
        assert tested.result is not None, "answered before the gateway gave up"
        assert not tested.result.ok
        assert took < GATEWAY_QUERY_TIMEOUT
        assert SECRET not in tested.result.detail


class TestResolutionFailures:
    async def test_an_unknown_host_is_a_retryable_connect_error_not_a_refusal(self) -> None:
        async def fails(host: str, port: int) -> list[str]:
            raise OSError("name or service not known")

        policy = OutboundPolicy.from_settings("", require_https=False, resolver=fails)
        with pytest.raises(UnsafeDestinationError, match="could not be resolved"):
            await policy.check_destination("http://psa.typo.test/")
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get("http://psa.typo.test/")


OVERLONG_LABEL_HOST = "a" * 64 + ".example.com"


class TestHostNamesDnsCannotCarry:
    """A label over 63 characters made the resolver's IDNA step raise UnicodeError, which
    no caller handled: saving such an address answered 500 instead of a 422."""

    async def test_an_overlong_label_is_a_refusal_not_a_unicode_error(self) -> None:
        policy = OutboundPolicy.from_settings("", require_https=True)
        for url in (f"https://{OVERLONG_LABEL_HOST}", f"https://{OVERLONG_LABEL_HOST}/api"):
            with pytest.raises(UnsafeDestinationError, match="not a valid host name"):
                await policy.check_destination(url)
        with pytest.raises(UnsafeDestinationError, match="longer than 253"):
            await policy.check_destination("https://" + ("a" * 60 + ".") * 5 + "com")

    async def test_a_resolver_refusing_the_name_is_a_refusal_too(self) -> None:
        async def idna_fails(host: str, port: int) -> list[str]:
            raise UnicodeError("encoding with 'idna' codec failed")

        policy = OutboundPolicy.from_settings("", require_https=False, resolver=idna_fails)
        with pytest.raises(UnsafeDestinationError, match="not a valid host name"):
            await policy.safe_addresses("psa.example.com", 443)

    async def test_saving_a_psa_site_with_an_overlong_label_is_a_422_naming_the_field(
        self, clean_nats: str, databases: Databases, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        settings = await _settings(databases, clean_nats)
        async with running_service(build, settings) as (runtime, _app):
            reply = await _query(
                runtime,
                tenant,
                m.SavePsaConnection(
                    psa="connectwise",
                    name="CW",
                    credentials=_cw(f"https://{OVERLONG_LABEL_HOST}"),
                    actor=ACTOR,
                ),
                m.PsaConnectionStatus,
            )
        assert reply.error is not None
        assert reply.error.status == 422
        assert reply.error.title == "PSA address not allowed"
        assert reply.error.detail.startswith("site: ")
        assert "not a valid host name" in reply.error.detail
