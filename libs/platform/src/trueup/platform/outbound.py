"""Outbound HTTP to addresses users give us (PSA sites, vendor API base URLs), made safe.

A tenant admin types the URL of their PSA; without a check the server would fetch any
host, including services on its own loopback, the cluster network or the cloud metadata
endpoint (server-side request forgery). One policy decides, for every outbound call:

- the scheme: `https` only where `require_https` is set (production);
- the destination: every address the host resolves to must be public, unless the host
  name, or a network holding the address, is in the allow-list (a self-hosted PSA on
  the MSP's own network; the embedded demo's simulators on 127.0.0.1).

`GuardedTransport` applies the policy where it cannot be bypassed: when a connection is
opened, the host is resolved once, every address is checked, and the socket connects to
that checked address (TLS still verifies the certificate against the host name). A name
that resolves to a public address when the URL is saved and to 127.0.0.1 later (DNS
rebinding) is refused at connect time, and so are redirects and URLs that a PSA hands
back (Autotask's zone, next-page links), since every connection passes through it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits; a gateway translating
# it would reach that IPv4 host, so the embedded address is what is checked.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class UnsafeDestinationError(httpx.RequestError):
    """An outbound request refused by the policy: wrong scheme, or a non-public address.

    A `RequestError` but not a `TransportError`, so clients that retry transport errors
    do not retry this: nothing was sent, and sending again would be refused again.
    """

    def __init__(self, reason: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(reason, request=request)
        self.reason = reason


class UnresolvableHostError(UnsafeDestinationError):
    """The host name did not resolve: refused when a URL is saved; when a connection is
    opened it is an ordinary connect error (DNS may be down for a moment), retried."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether the address is globally routable unicast: not loopback, private, link-local
    (cloud metadata), CGNAT, multicast, reserved or unspecified, in IPv4 or IPv6 (IPv6 forms
    that carry an IPv4 address are judged by that address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
        if address in _NAT64_LOCAL:
            return False
    return address.is_global and not address.is_multicast


def _check_host_name(host: str) -> None:
    """Refuse a host name DNS cannot carry (a label over 63 bytes, a name over 253).

    The resolver would raise UnicodeError from its IDNA step, which is not an
    `OSError` and would escape every caller's handling as a 500.
    """
    name = host.strip("[]").rstrip(".")
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
        return
    except ValueError:
        pass
    try:
        encoded = name.encode("idna")
    except UnicodeError as exc:
        raise UnsafeDestinationError(
            f"{host[:80]} is not a valid host name (a label is empty or over 63 characters)"
        ) from exc
    if len(encoded) > 253:
        raise UnsafeDestinationError("the host name is longer than 253 characters")


def _parse_allow(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], frozenset[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return tuple(networks), frozenset(hosts)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the host (IPv4 and IPv6)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    """Which outbound destinations are allowed (see the module docstring)."""

    require_https: bool = True
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_settings(
        cls, allow: str | Sequence[str], *, require_https: bool, resolver: Resolver | None = None
    ) -> OutboundPolicy:
        """A policy from the allow-list setting: comma-separated CIDRs, addresses, host names."""
        entries = allow.split(",") if isinstance(allow, str) else list(allow)
        networks, hosts = _parse_allow(entries)
        return cls(
            require_https=require_https,
            allowed_networks=networks,
            allowed_hosts=hosts,
            resolver=resolver or system_resolver,
        )

    def address_allowed(self, address: IPAddress) -> bool:
        """Public, or inside an allowed network (IPv4-mapped IPv6 matches IPv4 entries)."""
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for candidate in candidates:
            if any(candidate in network for network in self.allowed_networks):
                return True
        return is_public_address(address)

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The URL, if its form is acceptable (scheme, host); else `UnsafeDestinationError`."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise UnsafeDestinationError("the address is not a valid URL") from exc
        allowed = ("https",) if self.require_https else ("https", "http")
        if parsed.scheme not in allowed:
            raise UnsafeDestinationError(f"only {' or '.join(allowed)} addresses are allowed")
        if not parsed.host:
            raise UnsafeDestinationError("the address has no host")
        if parsed.userinfo:
            raise UnsafeDestinationError("the address must not carry a user name or password")
        _check_host_name(parsed.host)
        return parsed

    async def safe_addresses(self, host: str, port: int) -> list[str]:
        """Resolve the host; every address must be allowed. Returns them, best first."""
        name = host.lower().rstrip(".")
        try:
            literal: IPAddress | None = ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            if not self.address_allowed(literal):
                raise UnsafeDestinationError(f"{host} is not a public address")
            return [str(literal)]
        _check_host_name(name)
        try:
            addresses = await self.resolver(name, port)
        except OSError as exc:
            raise UnresolvableHostError(f"{host} could not be resolved") from exc
        except UnicodeError as exc:  # the resolver's IDNA step refuses what DNS cannot carry
            raise UnsafeDestinationError(f"{host[:80]} is not a valid host name") from exc
        if not addresses:
            raise UnresolvableHostError(f"{host} could not be resolved")
        if name in self.allowed_hosts:
            return addresses
        for text in addresses:
            # A scoped IPv6 address (fe80::1%eth0) is link-local whatever its scope.
            if not self.address_allowed(ipaddress.ip_address(text.split("%", 1)[0])):
                raise UnsafeDestinationError(f"{host} resolves to an address that is not public")
        return addresses

    async def check_destination(self, url: str | httpx.URL) -> None:
        """Check a URL's form and where its host resolves now (for a clear error on save)."""
        parsed = self.check_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        await self.safe_addresses(parsed.host, port)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy allows, resolved exactly once."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._policy.safe_addresses(host, port)
        except UnresolvableHostError as exc:
            raise httpcore.ConnectError(exc.reason) from exc
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeDestinationError("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """One TLS context per process, shared by every client (an `SSLContext` is made to be
    shared). Building one reads the CA bundle: psa_sync, which opens a client for each
    sync and each contract refresh, spent about half its CPU doing that under load."""
    return httpx.create_ssl_context(verify=verify)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that refuses destinations the policy does not allow.

    The scheme is checked per request; the address when each connection is opened, by
    the connection pool's network backend, so the checked address is the one used.
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
    ) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else _ssl_context(verify)
        super().__init__(verify=context, limits=limits)
        self.policy = policy
        # Replace the pool httpx built with one whose sockets go through the guard
        # (same settings; httpx exposes no network-backend parameter of its own).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            self.policy.check_url(request.url)
        except UnsafeDestinationError as exc:
            raise UnsafeDestinationError(exc.reason, request=request) from None
        try:
            return await super().handle_async_request(request)
        except UnsafeDestinationError as exc:
            raise UnsafeDestinationError(exc.reason, request=request) from None
