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

    #: What a user may read about this kind of failure. The message itself can quote the
    #: PSA's answer: fine for logs, but a URL pointing somewhere else (SSRF) would turn it
    #: into a way to read other servers' pages.
    public_phrase = "the PSA request failed"
    #: Raised without a status code, these errors carry text the client wrote itself (a
    #: refused quantity, a changed line item), which users may read.
    own_text_without_status = False

    @property
    def public_message(self) -> str:
        """The failure for users and stored statuses: a fixed phrase and the HTTP status."""
        if self.status_code is None and self.own_text_without_status:
            return self.detail
        if self.status_code is not None:
            return f"{self.public_phrase} (HTTP {self.status_code})"
        return self.public_phrase


class PsaAuthError(PsaError):
    """The PSA refused the credentials (401/403). Never retried."""

    public_phrase = "the PSA refused the credentials"


class PsaNotFound(PsaError):  # noqa: N818 (names the issue uses)
    """The record does not exist in the PSA (404)."""

    public_phrase = "the PSA has no such record"


class PsaConflict(PsaError):  # noqa: N818 (names the issue uses)
    """The PSA record is not in the state the caller expected (409, or a changed quantity)."""

    public_phrase = "the PSA record is not in the expected state"
    own_text_without_status = True


class PsaRequestError(PsaError):
    """The PSA rejected the request as invalid (400 and other 4xx)."""

    public_phrase = "the PSA rejected the request"
    own_text_without_status = True


class PsaUnsupported(PsaError):  # noqa: N818 (names the issue uses)
    """The PSA cannot do what was asked (see `Capabilities`)."""

    public_phrase = "the PSA cannot do this"
    own_text_without_status = True


class PsaResponseError(PsaError):
    """The PSA answered with a payload we cannot trust: not JSON, or a field missing or wrong."""

    public_phrase = "the PSA answered something that is not a valid PSA response"


class PsaTransientError(PsaError):
    """A failure worth retrying; raised once the retry budget is spent."""

    public_phrase = "the PSA kept failing"


class PsaRateLimited(PsaTransientError):  # noqa: N818 (names the issue uses)
    """The PSA answered 429. `retry_after` is its Retry-After in seconds, if given."""

    public_phrase = "the PSA kept rate-limiting the requests"

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

    public_phrase = "the PSA reported a server error"


class PsaTimeout(PsaTransientError):  # noqa: N818 (names the issue uses)
    """The PSA did not answer in time, or the connection dropped."""

    public_phrase = "the PSA could not be reached or did not answer in time"


class PsaDestinationRefused(PsaRequestError):  # noqa: N818 (reads as the others)
    """The PSA's address is not allowed (not https, or not a public address): nothing sent.

    Its message is ours (which rule refused which host), never the PSA's, so it is shown.
    """

    @property
    def public_message(self) -> str:
        """Which rule refused the address, for the admin who typed it."""
        return f"the PSA address is not allowed: {self.detail}"
