"""Signed usage webhooks (Standard Webhooks) and the vendor push API bodies."""

from trueup.vendors.webhooks.schemas import (
    MAX_RECORDS_PER_BATCH,
    PushAccount,
    PushService,
    SetUnitCounts,
    UnitCount,
    UsageBatch,
    UsagePushRecord,
)
from trueup.vendors.webhooks.signatures import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_TOLERANCE,
    VerifiedWebhook,
    WebhookFailure,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
    sign,
    signed_headers,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOLERANCE",
    "MAX_RECORDS_PER_BATCH",
    "PushAccount",
    "PushService",
    "SetUnitCounts",
    "UnitCount",
    "UsageBatch",
    "UsagePushRecord",
    "VerifiedWebhook",
    "WebhookFailure",
    "WebhookVerificationError",
    "WebhookVerifier",
    "generate_secret",
    "sign",
    "signed_headers",
]
