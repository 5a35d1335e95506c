"""Standard Webhooks verification, signing, and the usage push bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import pytest
from pydantic import ValidationError

from trueup.vendors.webhooks import (
    SetUnitCounts,
    UsageBatch,
    WebhookFailure,
    WebhookVerificationError,
    WebhookVerifier,
    generate_secret,
    sign,
    signed_headers,
)

NOW = datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)
OLD_SECRET = generate_secret()
NEW_SECRET = generate_secret()
BODY = json.dumps(
    {"records": [{"account_id": "org-1", "sku": "edr-agent", "quantity": "42"}]}
).encode()


def verifier(*secrets: str) -> WebhookVerifier:
    return WebhookVerifier(list(secrets) or [OLD_SECRET], clock=lambda: NOW)


class TestSignature:
    def test_matches_the_standard_webhooks_definition(self) -> None:
        # HMAC-SHA256 over "id.timestamp.body" with the base64 key after "whsec_".
        key = base64.b64decode(OLD_SECRET.removeprefix("whsec_"))
        content = b"msg_1." + str(int(NOW.timestamp())).encode() + b"." + BODY
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()

        assert sign(OLD_SECRET, BODY, webhook_id="msg_1", timestamp=NOW) == f"v1,{expected}"

    def test_a_signed_body_verifies(self) -> None:
        headers = signed_headers(OLD_SECRET, BODY, webhook_id="msg_1", timestamp=NOW)

        verified = verifier().verify(BODY, headers)

        assert verified.webhook_id == "msg_1"
        assert verified.timestamp == NOW
        assert verified.body == BODY

    def test_header_names_are_case_insensitive(self) -> None:
        headers = signed_headers(OLD_SECRET, BODY, timestamp=NOW)

        verifier().verify(BODY, {key.title(): value for key, value in headers.items()})


class TestRotation:
    def test_old_and_new_secret_are_both_valid_during_rotation(self) -> None:
        rotating = verifier(OLD_SECRET, NEW_SECRET)

        for secret in (OLD_SECRET, NEW_SECRET):
            rotating.verify(BODY, signed_headers(secret, BODY, timestamp=NOW))

    def test_a_retired_secret_is_refused(self) -> None:
        with pytest.raises(WebhookVerificationError) as caught:
            verifier(NEW_SECRET).verify(BODY, signed_headers(OLD_SECRET, BODY, timestamp=NOW))

        assert caught.value.failure is WebhookFailure.INVALID_SIGNATURE

    def test_any_of_several_offered_signatures_may_match(self) -> None:
        headers = signed_headers(NEW_SECRET, BODY, webhook_id="msg_2", timestamp=NOW)
        old = sign(OLD_SECRET, BODY, webhook_id="msg_2", timestamp=NOW)
        headers["webhook-signature"] = f"v1a,xyz {old} {headers['webhook-signature']}"

        verifier(OLD_SECRET).verify(BODY, headers)


class TestRefusals:
    def refusal(self, body: bytes, headers: dict[str, str]) -> WebhookFailure:
        with pytest.raises(WebhookVerificationError) as caught:
            verifier().verify(body, headers)
        return caught.value.failure

    def test_tampered_body(self) -> None:
        headers = signed_headers(OLD_SECRET, BODY, timestamp=NOW)

        assert self.refusal(BODY.replace(b"42", b"43"), headers) is WebhookFailure.INVALID_SIGNATURE

    def test_changed_id_breaks_the_signature(self) -> None:
        headers = signed_headers(OLD_SECRET, BODY, webhook_id="msg_1", timestamp=NOW)
        headers["webhook-id"] = "msg_2"

        assert self.refusal(BODY, headers) is WebhookFailure.INVALID_SIGNATURE

    @pytest.mark.parametrize(
        ("offset", "failure"),
        [
            (timedelta(minutes=-5, seconds=-1), WebhookFailure.STALE_TIMESTAMP),
            (timedelta(minutes=5, seconds=1), WebhookFailure.FUTURE_TIMESTAMP),
        ],
    )
    def test_timestamps_outside_five_minutes(
        self, offset: timedelta, failure: WebhookFailure
    ) -> None:
        headers = signed_headers(OLD_SECRET, BODY, timestamp=NOW + offset)

        assert self.refusal(BODY, headers) is failure

    def test_timestamps_inside_five_minutes_pass(self) -> None:
        for offset in (timedelta(minutes=-5), timedelta(minutes=4, seconds=59)):
            verifier().verify(BODY, signed_headers(OLD_SECRET, BODY, timestamp=NOW + offset))

    def test_missing_headers(self) -> None:
        headers = signed_headers(OLD_SECRET, BODY, timestamp=NOW)
        del headers["webhook-timestamp"]

        with pytest.raises(WebhookVerificationError, match="webhook-timestamp"):
            verifier().verify(BODY, headers)

    def test_garbage_timestamp_and_signature(self) -> None:
        headers = signed_headers(OLD_SECRET, BODY, timestamp=NOW)

        assert (
            self.refusal(BODY, {**headers, "webhook-timestamp": "yesterday"})
            is WebhookFailure.INVALID_TIMESTAMP
        )
        assert (
            self.refusal(BODY, {**headers, "webhook-signature": "v1,not base64!"})
            is WebhookFailure.INVALID_SIGNATURE
        )

    def test_oversized_body(self) -> None:
        small = WebhookVerifier([OLD_SECRET], max_body_bytes=10, clock=lambda: NOW)
        headers = signed_headers(OLD_SECRET, BODY, timestamp=NOW)

        with pytest.raises(WebhookVerificationError) as caught:
            small.verify(BODY, headers)

        assert caught.value.failure is WebhookFailure.BODY_TOO_LARGE

    def test_a_verifier_needs_a_secret(self) -> None:
        with pytest.raises(ValueError, match="at least one secret"):
            WebhookVerifier([])


class TestUsageBatch:
    def test_records_become_usage_with_ids_from_the_webhook(self) -> None:
        batch = UsageBatch.model_validate_json(
            json.dumps(
                {
                    "records": [
                        {"account_id": "org-1", "sku": "edr", "quantity": "1.50"},
                        {"account_id": "org-2", "sku": "edr", "quantity": 3},
                    ]
                }
            )
        )

        records = batch.to_reported_usage(vendor="huntress", webhook_id="msg_9", received_at=NOW)

        assert [(r.vendor_account_id, r.quantity, r.record_id) for r in records] == [
            ("org-1", Decimal("1.50"), "msg_9:0"),
            ("org-2", Decimal(3), "msg_9:1"),
        ]
        assert records[0].as_of == NOW
        assert json.loads(records[0].model_dump_json())["quantity"] == "1.50"

    @pytest.mark.parametrize(
        "record",
        [
            {"account_id": "org-1", "sku": "edr", "quantity": "-1"},
            {"account_id": "", "sku": "edr", "quantity": "1"},
            {"account_id": "org-1", "sku": "edr", "quantity": "many"},
            {"account_id": "org-1", "sku": "edr", "quantity": "1", "extra": True},
            {"account_id": "org-1", "sku": "edr", "quantity": "1", "observed_at": "2026-11-27"},
        ],
    )
    def test_bad_records_are_refused(self, record: dict[str, object]) -> None:
        with pytest.raises(ValidationError):
            UsageBatch.model_validate({"records": [record]})

    def test_batches_are_bounded(self) -> None:
        record = {"account_id": "org-1", "sku": "edr", "quantity": "1"}

        with pytest.raises(ValidationError):
            UsageBatch.model_validate({"records": []})
        with pytest.raises(ValidationError):
            UsageBatch.model_validate({"records": [record] * 1001})


class TestSetUnitCounts:
    BODY: ClassVar[dict[str, object]] = {
        "idempotency_key": "push-2026-11-27-01",
        "accounts": [{"id": "a1", "name": "Acme, Inc."}, {"id": "a2", "name": "Contoso"}],
        "services": [{"id": "s1", "name": "Managed backup (GB)"}],
        "unit_counts": [
            {"account_id": "a1", "service_id": "s1", "unit_count": "512.25"},
            {"account_id": "a2", "service_id": "s1", "unit_count": 10},
        ],
    }

    def test_unit_counts_become_named_usage(self) -> None:
        push = SetUnitCounts.model_validate(self.BODY)

        records = push.to_reported_usage(vendor="acme-backup", received_at=NOW)

        assert [(r.vendor_account_name, r.sku_name, r.quantity, r.record_id) for r in records] == [
            ("Acme, Inc.", "Managed backup (GB)", Decimal("512.25"), "push-2026-11-27-01:a1:s1"),
            ("Contoso", "Managed backup (GB)", Decimal(10), "push-2026-11-27-01:a2:s1"),
        ]

    def test_unknown_account_is_refused_with_its_position(self) -> None:
        body = {
            **self.BODY,
            "unit_counts": [{"account_id": "zz", "service_id": "s1", "unit_count": 1}],
        }

        with pytest.raises(ValidationError, match=r"unit_counts\[0\].account_id 'zz'"):
            SetUnitCounts.model_validate(body)

    def test_repeated_pair_is_refused(self) -> None:
        count = {"account_id": "a1", "service_id": "s1", "unit_count": 1}

        with pytest.raises(ValidationError, match="repeats"):
            SetUnitCounts.model_validate({**self.BODY, "unit_counts": [count, count]})

    def test_idempotency_key_is_required(self) -> None:
        body = {key: value for key, value in self.BODY.items() if key != "idempotency_key"}

        with pytest.raises(ValidationError):
            SetUnitCounts.model_validate(body)
