"""HTTP for connectors: retries that honour Retry-After, and OAuth client credentials."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypedDict, Unpack

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from trueup.vendors.connectors.base import (
    Clock,
    Connector,
    ConnectorError,
    Schedule,
    Sleep,
    utc_now,
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class _RetryableError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class VendorHttp:
    """An httpx client that retries 429/5xx and transport errors, honouring Retry-After.

    Waits are capped by `max_wait` so that a vendor asking for an hour does not stall
    the scheduler; the poll then fails and runs again at its next slot.
    """

    def __init__(
        self,
        connector: str,
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        sleep: Sleep | None = None,
    ) -> None:
        self.connector = connector
        self.client = httpx.AsyncClient(
            base_url=base_url, transport=transport, timeout=DEFAULT_TIMEOUT
        )
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self._sleep = sleep or asyncio.sleep
        self._backoff = wait_exponential(multiplier=0.5, max=max_wait)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryableError) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait)
        return float(self._backoff(state))

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying what is worth retrying; raise ConnectorError otherwise."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(method, url, **kwargs)
        except _RetryableError as error:
            raise ConnectorError(
                self.connector,
                f"{method} {url} still failing after {self.max_attempts} attempts: {error.reason}",
            ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise _RetryableError(f"{type(error).__name__}: {error}") from error
        except httpx.RequestError as error:
            # Refused before sending (an outbound policy): retrying changes nothing.
            raise ConnectorError(self.connector, f"{method} {url} not sent: {error}") from error
        if response.status_code in _RETRY_STATUSES or response.status_code >= 500:
            raise _RetryableError(
                f"HTTP {response.status_code}",
                parse_retry_after(response.headers.get("retry-after")),
            )
        if response.status_code >= 400:
            # The status only: the poll's error is shown to users, and the body of whatever
            # answers at a configured address is not theirs to read.
            raise ConnectorError(
                self.connector, f"{method} {url} answered HTTP {response.status_code}"
            )
        return response

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET a URL and decode its JSON body."""
        response = await self.request("GET", url, **kwargs)
        try:
            return response.json()
        except ValueError as error:
            raise ConnectorError(self.connector, f"GET {url} did not answer JSON") from error

    async def aclose(self) -> None:
        """Close the underlying client."""
        await self.client.aclose()


class ClientCredentials:
    """OAuth 2.0 client-credentials tokens, fetched when missing or about to expire."""

    def __init__(
        self,
        http: VendorHttp,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        extra: Mapping[str, str] | None = None,
        json_body: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            **(extra or {}),
        }
        self._json_body = json_body
        self._clock = clock
        self._token: str | None = None
        self._expires_at = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        """The Authorization header with a valid bearer token."""
        async with self._lock:
            # Renew a minute early so a token never expires in the middle of a poll.
            if self._token is None or self._clock() >= self._expires_at - timedelta(minutes=1):
                await self._fetch()
        return {"Authorization": f"Bearer {self._token}"}

    async def _fetch(self) -> None:
        body: dict[str, Any] = {"json": self._form} if self._json_body else {"data": self._form}
        response = await self._http.request("POST", self._token_url, **body)
        try:
            payload = response.json()
            self._token = str(payload["access_token"])
            lifetime = float(payload.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as error:
            raise ConnectorError(
                self._http.connector, "the token endpoint answered without an access_token"
            ) from error
        self._expires_at = self._clock() + timedelta(seconds=lifetime)


class HttpOptions(TypedDict, total=False):
    """How a REST connector reaches its vendor; each has a default."""

    base_url: str
    """The vendor's API (the connector's `default_base_url`)."""
    vendor: str
    """The vendor tag given to records (the connector's name)."""
    schedule: Schedule | None
    """When it polls (every six hours)."""
    transport: httpx.AsyncBaseTransport | None
    clock: Clock
    sleep: Sleep | None


class HttpConnector(Connector):
    """A connector that polls a vendor's REST API through `VendorHttp`."""

    default_base_url: ClassVar[str]

    def __init__(self, **options: Unpack[HttpOptions]) -> None:
        self.vendor = options.get("vendor", self.name)
        self.schedule = options.get("schedule") or Schedule(every=timedelta(hours=6))
        self._clock = options.get("clock", utc_now)
        self._http = VendorHttp(
            self.name,
            base_url=options.get("base_url", self.default_base_url),
            transport=options.get("transport"),
            sleep=options.get("sleep"),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
