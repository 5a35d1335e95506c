"""The `PsaClient` interface and the HTTP plumbing every implementation shares.

One request path for all three PSAs: status codes become typed errors, 429/5xx/timeouts
are retried with exponential backoff and jitter (honouring `Retry-After`), and every
payload is validated before a single field is used.
"""

from __future__ import annotations

import abc
import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import TypeAdapter, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from trueup.psa.errors import (
    PsaAuthError,
    PsaConflict,
    PsaDestinationRefused,
    PsaNotFound,
    PsaRateLimited,
    PsaRequestError,
    PsaResponseError,
    PsaServerError,
    PsaTimeout,
    PsaTransientError,
    PsaUnsupported,
)
from trueup.psa.models import (
    Capabilities,
    LineItemRef,
    PsaAccount,
    PsaContract,
    PsaKind,
    PsaLineItem,
    PsaProduct,
    RecordWritten,
    WriteResult,
)

log = structlog.get_logger("trueup.psa")

T = TypeVar("T")

# httpx errors where the request certainly never reached the PSA: safe to resend even
# for writes that are not idempotent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard a client tries before giving up on a transient failure."""

    max_attempts: int = 8
    max_elapsed: float = 300.0
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0


class _NotSent(PsaTimeout):
    """A connection failure before the request left: retried even for writes."""


class PsaClient(abc.ABC):
    """Async client for one PSA connection.

    Use as an async context manager, or call `aclose()`. Listing methods are async
    iterators that page through the PSA; they hold at most one page (or one bounded
    batch of concurrent pages) in memory.
    """

    kind: ClassVar[PsaKind]

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 8,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=max_concurrency + 2),
        )
        self._max_concurrency = max_concurrency

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------------ interface

    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this PSA supports (proration, incremental sync, dated changes, notes)."""

    @abc.abstractmethod
    async def check_connection(self) -> None:
        """Make one cheap authenticated call; raise `PsaAuthError` on bad credentials."""

    @abc.abstractmethod
    def list_accounts(self, changed_since: datetime | None = None) -> AsyncIterator[PsaAccount]:
        """Every account, or those changed since a time where the PSA allows."""

    @abc.abstractmethod
    def list_contracts(self, changed_since: datetime | None = None) -> AsyncIterator[PsaContract]:
        """Every contract (all statuses), or those changed since a time where allowed."""

    @abc.abstractmethod
    def list_line_items(
        self,
        changed_since: datetime | None = None,
        *,
        contract_ids: Iterable[str] | None = None,
    ) -> AsyncIterator[PsaLineItem]:
        """Line items of the given contracts (default: every contract), with current quantity."""

    @abc.abstractmethod
    def list_products(self) -> AsyncIterator[PsaProduct]:
        """The PSA's product catalogue (what `add_line_item` may bill)."""

    @abc.abstractmethod
    async def get_line_item(self, contract_id: str, line_item_id: str) -> PsaLineItem:
        """Read one line item as it bills today; `PsaNotFound` if it is gone."""

    @abc.abstractmethod
    async def add_contract_note(self, contract_id: str, title: str, text: str) -> RecordWritten:
        """Write a note to the contract's audit trail in the PSA."""

    @abc.abstractmethod
    async def has_contract_note(self, contract_id: str, containing: str) -> bool:
        """Whether a note `add_contract_note` wrote on the contract contains `containing`.

        Asked before a note is written again after a crash, so it is written once.
        """

    @abc.abstractmethod
    async def cancel_line_item(
        self, contract_id: str, line_item_id: str, cancelled_date: date
    ) -> WriteResult:
        """Stop a line item billing after `cancelled_date` (where `replaces_line`).

        The second half of a cancel-and-add, on its own: a write that stopped between
        the two finishes with this. `PsaUnsupported` where the PSA has no cancel-and-add.
        """

    @abc.abstractmethod
    def contract_audit_url(self, contract_id: str) -> str | None:
        """Where the PSA's own audit record of a contract can be read, if it has one."""

    @abc.abstractmethod
    async def _change_quantity(
        self,
        line_item: PsaLineItem,
        quantity: Decimal,
        effective_date: date | None,
        prorate: bool,
    ) -> WriteResult: ...

    @abc.abstractmethod
    async def _add_line_item(
        self,
        contract_id: str,
        product: PsaProduct,
        quantity: Decimal,
        unit_price: Decimal,
        unit_cost: Decimal,
        effective_date: date | None,
        prorate: bool,
        description: str | None,
    ) -> WriteResult: ...

    async def change_quantity(
        self,
        ref: LineItemRef,
        quantity: Decimal,
        *,
        effective_date: date | None = None,
        prorate: bool = False,
        expected_quantity: Decimal | None = None,
        checked: PsaLineItem | None = None,
    ) -> WriteResult:
        """Set a line item's quantity, from `effective_date` (None: now, undated).

        The write needs the line item as the PSA shows it (a cancel-and-add copies its
        product and prices): it is read first, unless the caller passes the one it has
        just read as `checked`. With `expected_quantity`, `PsaConflict` is raised, writing
        nothing, if that line item no longer shows that quantity.
        """
        if quantity < 0:
            raise PsaRequestError(f"quantity must not be negative, got {quantity}")
        self._check_write_options(effective_date, prorate)
        if checked is not None and (
            checked.contract_id != ref.contract_id or checked.id != ref.line_item_id
        ):
            raise PsaRequestError(
                f"the checked line item {checked.id} is not line item {ref.line_item_id}"
            )
        current = checked or await self.get_line_item(ref.contract_id, ref.line_item_id)
        if expected_quantity is not None and current.quantity != expected_quantity:
            raise PsaConflict(
                f"line item {ref.line_item_id} on contract {ref.contract_id} has quantity "
                f"{current.quantity}, expected {expected_quantity}",
                psa=self.kind.value,
            )
        return await self._change_quantity(current, quantity, effective_date, prorate)

    async def add_line_item(
        self,
        contract_id: str,
        product: PsaProduct,
        quantity: Decimal,
        unit_price: Decimal,
        unit_cost: Decimal,
        *,
        effective_date: date | None = None,
        prorate: bool = False,
        description: str | None = None,
    ) -> WriteResult:
        """Add a recurring line item to a contract (a New Revenue card's action)."""
        if quantity < 0:
            raise PsaRequestError(f"quantity must not be negative, got {quantity}")
        self._check_write_options(effective_date, prorate)
        return await self._add_line_item(
            contract_id,
            product,
            quantity,
            unit_price,
            unit_cost,
            effective_date,
            prorate,
            description,
        )

    def _check_write_options(self, effective_date: date | None, prorate: bool) -> None:
        caps = self.capabilities()
        if prorate and not caps.proration:
            raise PsaUnsupported("this PSA cannot prorate a change", psa=self.kind.value)
        if (
            not prorate
            and caps.proration
            and not caps.proration_optional
            and effective_date is not None
        ):
            raise PsaUnsupported(
                "this PSA always prorates a dated change; pass prorate=True",
                psa=self.kind.value,
            )
        if (
            effective_date is not None
            and not caps.dated_changes
            and effective_date > datetime.now(UTC).date()
        ):
            raise PsaUnsupported(
                "this PSA cannot schedule a change for a later date",
                psa=self.kind.value,
            )

    # ------------------------------------------------------------------ plumbing

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self._base_url}/{path.lstrip('/')}"

    async def _prepare(self) -> None:
        """Run once before authenticated requests (codebase or zone discovery)."""
        return None

    async def _auth_headers(self) -> dict[str, str]:
        """Headers that authenticate one request (may fetch a token)."""
        return {}

    async def _on_unauthorized(self) -> bool:
        """Called on a 401. Return True to resend once (e.g. after a token refresh)."""
        return False

    def _error_message(self, response: httpx.Response) -> str:
        """The PSA's own error text from an error response."""
        return response.text[:300]

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        authenticated: bool = True,
        max_attempts: int | None = None,
    ) -> httpx.Response:
        """Send one request with retries; return a 2xx response or raise a `PsaError`.

        Writes that are not idempotent are resent only when the PSA cannot have acted
        on them (429, 503, or no connection), so a timeout never doubles a write.
        """
        if authenticated:
            await self._prepare()
        endpoint = f"{method} {urlsplit(self._url(path)).path}"
        policy = self._retry

        def should_retry(exc: BaseException) -> bool:
            if isinstance(exc, _NotSent | PsaRateLimited):
                return True
            if isinstance(exc, PsaServerError) and exc.status_code == 503:
                return True
            return idempotent and isinstance(exc, PsaTransientError)

        backoff = wait_exponential_jitter(
            multiplier=policy.initial_backoff, max=policy.max_backoff, jitter=policy.jitter
        )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, PsaRateLimited) and exc.retry_after is not None:
                # Honour Retry-After, plus a little jitter so parallel workers spread out.
                delay = min(exc.retry_after, policy.max_retry_after)
                return delay + random.uniform(0, min(1.0, delay * 0.1))
            return float(backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "psa.request.retry",
                psa=self.kind.value,
                endpoint=endpoint,
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep, 3),
                error=type(exc).__name__,
                status=getattr(exc, "status_code", None),
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(max_attempts or policy.max_attempts)
            | stop_after_delay(policy.max_elapsed),
            wait=wait,
            retry=retry_if_exception(should_retry),
            before_sleep=before_sleep,
            reraise=True,
        )
        response: httpx.Response | None = None
        async for attempt in retrying:
            with attempt:
                response = await self._send_once(
                    method,
                    path,
                    endpoint,
                    params=params,
                    json_body=json_body,
                    data=data,
                    headers=headers,
                    authenticated=authenticated,
                )
        assert response is not None
        return response

    async def _send_once(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        authenticated: bool,
    ) -> httpx.Response:
        psa = self.kind.value
        for auth_try in range(2):
            url = self._url(path)  # recomputed: a 401 may have moved the base URL
            all_headers = dict(await self._auth_headers()) if authenticated else {}
            all_headers.update(headers or {})
            content = None
            if json_body is not None:
                content = json.dumps(json_body, default=_json_default)
                all_headers["Content-Type"] = "application/json"
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    data=data,
                    headers=all_headers,
                )
            except _NOT_SENT as exc:
                raise _NotSent(
                    f"could not connect: {type(exc).__name__}", psa=psa, endpoint=endpoint
                ) from exc
            except httpx.TimeoutException as exc:
                raise PsaTimeout(
                    f"no answer in time: {type(exc).__name__}", psa=psa, endpoint=endpoint
                ) from exc
            except httpx.TransportError as exc:
                raise PsaTimeout(
                    f"connection failed: {type(exc).__name__}: {exc}", psa=psa, endpoint=endpoint
                ) from exc
            except httpx.RequestError as exc:
                # Not a transport failure: the transport refused to send (an outbound
                # policy: plain http, a private address). Sending again changes nothing.
                raise PsaDestinationRefused(str(exc), psa=psa, endpoint=endpoint) from exc
            status = response.status_code
            if status == 401 and authenticated and auth_try == 0 and await self._on_unauthorized():
                continue
            if status < 400:
                return response
            self._raise_for_status(response, endpoint)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for_status(self, response: httpx.Response, endpoint: str) -> None:
        status = response.status_code
        psa = self.kind.value
        message = self._error_message(response)
        if status in (401, 403):
            raise PsaAuthError(
                f"credentials refused ({status}): {message}",
                psa=psa,
                endpoint=endpoint,
                status_code=status,
            )
        if status == 404:
            raise PsaNotFound(message, psa=psa, endpoint=endpoint, status_code=status)
        if status == 409:
            raise PsaConflict(message, psa=psa, endpoint=endpoint, status_code=status)
        if status == 429:
            raise PsaRateLimited(
                f"rate limited: {message}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                psa=psa,
                endpoint=endpoint,
            )
        if status >= 500:
            raise PsaServerError(
                f"server error {status}: {message}", psa=psa, endpoint=endpoint, status_code=status
            )
        raise PsaRequestError(
            f"request refused ({status}): {message}", psa=psa, endpoint=endpoint, status_code=status
        )

    def _decode(self, response: httpx.Response) -> Any:
        """Parse a JSON body, numbers with a fraction as `Decimal` (never float)."""
        endpoint = f"{response.request.method} {response.request.url.path}"
        try:
            return json.loads(response.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            snippet = response.text[:80].replace("\n", " ")
            log.error(
                "psa.response.invalid", psa=self.kind.value, endpoint=endpoint, error="not JSON"
            )
            raise PsaResponseError(
                f"response is not JSON ({exc}); body starts {snippet!r}",
                psa=self.kind.value,
                endpoint=endpoint,
                status_code=response.status_code,
            ) from exc

    def _validate(self, adapter: TypeAdapter[T], data: Any, response: httpx.Response) -> T:
        """Validate a decoded payload; name the endpoint and the exact field on failure."""
        endpoint = f"{response.request.method} {response.request.url.path}"
        try:
            return adapter.validate_python(data)
        except ValidationError as exc:
            detail = describe_validation_error(exc)
            log.error("psa.response.invalid", psa=self.kind.value, endpoint=endpoint, error=detail)
            raise PsaResponseError(
                detail,
                psa=self.kind.value,
                endpoint=endpoint,
                status_code=response.status_code,
            ) from exc

    async def _get_json(
        self, path: str, adapter: TypeAdapter[T], *, params: Mapping[str, str | int] | None = None
    ) -> tuple[T, httpx.Response]:
        response = await self._request("GET", path, params=params)
        return self._validate(adapter, self._decode(response), response), response

    async def _bounded_gather(self, coros: list[Any]) -> list[Any]:
        """Run coroutines at most `max_concurrency` at a time, keeping their order."""
        semaphore = asyncio.Semaphore(self._max_concurrency)

        async def run(coro: Any) -> Any:
            try:
                async with semaphore:
                    return await coro
            finally:
                # When a sibling fails, gather cancels us, possibly before `coro` started;
                # closing it then avoids a "never awaited" warning (a no-op otherwise).
                coro.close()

        return list(await asyncio.gather(*(run(c) for c in coros)))


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """A one-line description of a pydantic error: field path, problem and bad value."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        value = repr(err.get("input"))
        if len(value) > 60:
            value = value[:57] + "..."
        parts.append(f"field {loc or '<root>'}: {err['msg']} (got {value})")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "unexpected payload: " + "; ".join(parts)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_default(value: object) -> Any:
    # PSAs take JSON numbers. An integral Decimal goes out as an integer; any other goes
    # out as the shortest float that reads back as the same Decimal (json cannot write
    # a Decimal, and prices and quantities carry few enough digits to round-trip).
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        if Decimal(repr(number)) != value:
            raise TypeError(f"{value} cannot be sent as a JSON number without losing digits")
        return number
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime (naive values from a PSA are taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
