"""Standard Webhooks signatures: verification with secret rotation, and signing.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, signed with
HMAC-SHA256 and sent as `v1,<base64>` in `webhook-signature` (several space-separated
signatures allowed). The HMAC itself comes from the `standardwebhooks` package; this
module adds what the service needs around it: several valid secrets during a rotation,
an injectable clock, a body size limit, and errors that say which check failed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as random_secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from standardwebhooks.webhooks import Webhook

DEFAULT_TOLERANCE = timedelta(minutes=5)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Longest `webhook-id` taken: it becomes part of an idempotency key stored per delivery.
MAX_WEBHOOK_ID_LENGTH = 200
# Unix seconds as ASCII digits, at most 12 of them (year 33658): anything longer cannot be
# within any tolerance, and converting it would overflow `datetime`.
_MAX_TIMESTAMP_DIGITS = 12
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret


class WebhookFailure(StrEnum):
    """Why a webhook was refused."""

    MISSING_HEADERS = "missing_headers"
    INVALID_WEBHOOK_ID = "invalid_webhook_id"
    INVALID_TIMESTAMP = "invalid_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    INVALID_SIGNATURE = "invalid_signature"
    BODY_TOO_LARGE = "body_too_large"
    INVALID_BODY = "invalid_body"


class WebhookVerificationError(Exception):
    """A webhook failed verification; `failure` says which check, `reason` in words."""

    def __init__(self, failure: WebhookFailure, reason: str) -> None:
        self.failure = failure
        self.reason = reason
        super().__init__(f"{failure.value}: {reason}")


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A webhook whose signature and timestamp checked out."""

    webhook_id: str
    timestamp: datetime
    body: bytes


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def generate_secret() -> str:
    """A new random signing secret in the Standard Webhooks `whsec_` form."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode("ascii")


def sign(secret: str, body: bytes, *, webhook_id: str, timestamp: datetime) -> str:
    """The `webhook-signature` value (`v1,<base64>`) for a body signed with `secret`."""
    return Webhook(secret).sign(webhook_id, timestamp, body.decode("utf-8"))


def signed_headers(
    secret: str,
    body: bytes,
    *,
    webhook_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for a body: for clients, tests and simulators."""
    webhook_id = webhook_id or "msg_" + random_secrets.token_urlsafe(16)
    timestamp = timestamp or utc_now()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": sign(secret, body, webhook_id=webhook_id, timestamp=timestamp),
    }


class WebhookVerifier:
    """Checks Standard Webhooks signatures against any of several secrets.

    During a rotation both the old and the new secret are valid: pass both. The
    timestamp must be within `tolerance` of now in either direction, which bounds how
    long a captured request could be replayed; the service also remembers webhook ids.
    """

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not secrets:
            raise ValueError("a webhook verifier needs at least one secret")
        self._webhooks = [Webhook(secret) for secret in secrets]
        self.tolerance = tolerance
        self.max_body_bytes = max_body_bytes
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str]) -> VerifiedWebhook:
        """Return the verified webhook, or raise `WebhookVerificationError` saying why."""
        if len(body) > self.max_body_bytes:
            raise WebhookVerificationError(
                WebhookFailure.BODY_TOO_LARGE,
                f"the body has {len(body)} bytes; the limit is {self.max_body_bytes}",
            )
        lowered = {key.lower(): value for key, value in headers.items()}
        webhook_id = lowered.get("webhook-id", "").strip()
        timestamp_text = lowered.get("webhook-timestamp", "").strip()
        signature_text = lowered.get("webhook-signature", "").strip()
        missing = [
            name
            for name, value in (
                ("webhook-id", webhook_id),
                ("webhook-timestamp", timestamp_text),
                ("webhook-signature", signature_text),
            )
            if not value
        ]
        if missing:
            raise WebhookVerificationError(
                WebhookFailure.MISSING_HEADERS, "missing header " + ", ".join(missing)
            )
        if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH or not webhook_id.isprintable():
            raise WebhookVerificationError(
                WebhookFailure.INVALID_WEBHOOK_ID,
                f"webhook-id must be at most {MAX_WEBHOOK_ID_LENGTH} printable characters",
            )
        timestamp = self._checked_timestamp(timestamp_text)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise WebhookVerificationError(
                WebhookFailure.INVALID_BODY, "the body is not UTF-8 text"
            ) from error
        offered = _offered_signatures(signature_text)
        for webhook in self._webhooks:
            expected = _signature_bytes(webhook.sign(webhook_id, timestamp, text))
            if any(hmac.compare_digest(expected, candidate) for candidate in offered):
                return VerifiedWebhook(webhook_id=webhook_id, timestamp=timestamp, body=body)
        raise WebhookVerificationError(
            WebhookFailure.INVALID_SIGNATURE, "no signature matches any current secret"
        )

    def _checked_timestamp(self, text: str) -> datetime:
        # `int()` alone would take full-width digits, signs, underscores and 4,000-digit
        # numbers; `fromtimestamp` then overflows. Only plain unix seconds are a timestamp.
        invalid = WebhookVerificationError(
            WebhookFailure.INVALID_TIMESTAMP, "webhook-timestamp is not unix seconds"
        )
        if not (text.isascii() and text.isdigit() and len(text) <= _MAX_TIMESTAMP_DIGITS):
            raise invalid
        try:
            timestamp = datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise invalid from error
        now = self._clock()
        if timestamp < now - self.tolerance:
            raise WebhookVerificationError(
                WebhookFailure.STALE_TIMESTAMP,
                f"the timestamp is {int((now - timestamp).total_seconds())} s old;"
                f" the tolerance is {int(self.tolerance.total_seconds())} s",
            )
        if timestamp > now + self.tolerance:
            raise WebhookVerificationError(
                WebhookFailure.FUTURE_TIMESTAMP,
                f"the timestamp is {int((timestamp - now).total_seconds())} s in the future",
            )
        return timestamp


def _signature_bytes(versioned: str) -> bytes:
    return base64.b64decode(versioned.split(",", 1)[1])


def _offered_signatures(header: str) -> list[bytes]:
    offered: list[bytes] = []
    for versioned in header.split():
        version, _, encoded = versioned.partition(",")
        if version != "v1" or not encoded:
            continue  # other schemes (v1a asymmetric) are not ours to check
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return offered
