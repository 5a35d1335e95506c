"""Typed errors raised by every PSA client.

Callers branch on the type, never on message text: `PsaAuthError` is a connection
status to show the user, `PsaTransientError` subclasses were already retried, and
`PsaResponseError` means the PSA answered something we refuse to act on.
"""

from __future__ import annotations


class PsaError(Exception):
    """Base class of every PSA client error."""

    def __init__(
        self,
        message: str,
        *,
        psa: str = "",
        endpoint: str = "",
        status_code: int | None = None,
    ) -> None:
        self.psa = psa
        self.endpoint = endpoint
        self.status_code = status_code
        self.detail = message
        prefix = " ".join(p for p in (psa, endpoint) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class PsaAuthError(PsaError):
    """The PSA refused the credentials (401/403). Never retried."""


class PsaNotFound(PsaError):  # noqa: N818 (names the issue uses)
    """The record does not exist in the PSA (404)."""


class PsaConflict(PsaError):  # noqa: N818 (names the issue uses)
    """The PSA record is not in the state the caller expected (409, or a changed quantity)."""


class PsaRequestError(PsaError):
    """The PSA rejected the request as invalid (400 and other 4xx)."""


class PsaUnsupported(PsaError):  # noqa: N818 (names the issue uses)
    """The PSA cannot do what was asked (see `Capabilities`)."""


class PsaResponseError(PsaError):
    """The PSA answered with a payload we cannot trust: not JSON, or a field missing or wrong."""


class PsaTransientError(PsaError):
    """A failure worth retrying; raised once the retry budget is spent."""


class PsaRateLimited(PsaTransientError):  # noqa: N818 (names the issue uses)
    """The PSA answered 429. `retry_after` is its Retry-After in seconds, if given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        psa: str = "",
        endpoint: str = "",
        status_code: int | None = 429,
    ) -> None:
        super().__init__(message, psa=psa, endpoint=endpoint, status_code=status_code)
        self.retry_after = retry_after


class PsaServerError(PsaTransientError):
    """The PSA answered 5xx."""


class PsaTimeout(PsaTransientError):  # noqa: N818 (names the issue uses)
    """The PSA did not answer in time, or the connection dropped."""
