"""The webhook receiver and push API under generated, mostly hostile, input: never a 5xx.

The gateway's schema fuzzing (tests/e2e/test_schema_fuzz.py) cannot reach the receiver,
which is vendor_ingestion's own and signed rather than authenticated. Here each request is
built from a seeded generator: bodies of every JSON type and of no JSON at all, numbers
past every limit, NULs and bidi controls in names, absurd timestamps and signatures. Half
of the requests are signed with the endpoint's real secret, so the body's own validation
is reached, not only the signature check. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from tests.vendor_ingestion.conftest import Stack
from trueup.vendors.webhooks import signed_headers

CASES = 400
SEED = 16

# Hostile values, each drawn in half of the draws so that a body is often valid but for
# one field, which is what reaches a deep layer (a NUL stored on PostgreSQL, say).
VALID_STRINGS = ["org-1", "agent", "Acme, Inc.", "Société Générale"]
STRINGS = ["", "a" * 600, "org\x001", "Ann\u202egpj.exe", "١٢", "💾", "\ud7ff", " "]
VALID_NUMBERS: list[Any] = ["7", 0, "12.5", 3]
NUMBERS: list[Any] = [
    "1e400",
    "1e20",
    "-0",
    "1_000",
    "12.0000001",
    "NaN",
    "Infinity",
    10**30,
    -1,
    12.5,
    True,
    None,
]
TIMESTAMPS = ["1000000000000000", "-1", "abc", "", "9" * 40, "1.5", "0"]


def _string(rng: random.Random) -> str:
    return rng.choice(VALID_STRINGS if rng.random() < 0.6 else STRINGS)


def _number(rng: random.Random) -> Any:
    return rng.choice(VALID_NUMBERS if rng.random() < 0.6 else NUMBERS)


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return _string(rng)
    if kind == 1:
        return _number(rng)
    if kind == 2:
        return rng.choice([None, True, [], {}])
    if kind == 3:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = ["records", "account_id", "sku", "quantity", "unit_counts", "idempotency_key"]
    return {
        rng.choice([*keys, _string(rng)]): _value(rng, depth + 1) for _ in range(rng.randrange(4))
    }


def _record(rng: random.Random) -> dict[str, Any]:
    record: dict[str, Any] = {
        "account_id": _string(rng),
        "sku": _string(rng),
        "quantity": _number(rng),
    }
    if rng.random() < 0.3:
        record["account_name"] = _value(rng, 2)
    if rng.random() < 0.2:
        record[_string(rng) or "extra"] = _value(rng, 2)
    return record


def _push(rng: random.Random) -> dict[str, Any]:
    return {
        "idempotency_key": rng.choice([_string(rng), "nightly-2026-12-07"]),
        "accounts": [{"id": _string(rng), "name": _string(rng)}],
        "services": [{"id": _string(rng), "name": _string(rng)}],
        "unit_counts": [
            {
                "account_id": _string(rng),
                "service_id": _string(rng),
                "unit_count": _number(rng),
            }
        ],
    }


def _body(rng: random.Random) -> bytes:
    shape = rng.randrange(5)
    if shape == 0:
        return json.dumps({"records": [_record(rng) for _ in range(rng.randrange(1, 4))]}).encode()
    if shape == 1:
        return json.dumps(_push(rng)).encode()
    if shape == 2:
        return json.dumps(_value(rng)).encode()
    if shape == 3:
        return rng.choice([b"", b"{", b"\xff\xfe", b"[" * 2000, b'{"records": [1e999]}'])
    return json.dumps({"records": [_record(rng)], "pad": _value(rng)}).encode()


def _headers(rng: random.Random, secret: str, body: bytes) -> dict[str, str]:
    headers = {"content-type": rng.choice(["application/json", "text/plain", ""])}
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:  # nobody can sign it: the receiver refuses it unread
        return headers | signed_headers(secret, b"{}")
    if rng.random() < 0.5:
        return headers | signed_headers(secret, body)
    headers |= signed_headers(secret, body)
    broken = rng.choice(["webhook-timestamp", "webhook-signature", "webhook-id"])
    headers[broken] = rng.choice(
        [*TIMESTAMPS, "v1,", "v1," + "A" * 5000, "msg_" + "x" * 400, "v2,abc", ""]
    )
    return headers


async def test_no_generated_request_reaches_a_server_error(stack: Stack) -> None:
    created = await stack.api.post(
        "/api/v1/webhooks", json={"vendor": "edr", "name": "EDR console"}, headers=stack.headers
    )
    assert created.status_code == 201, created.text
    path, secret = created.json()["endpoint"]["path"], created.json()["secret"]
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    for _ in range(CASES):
        body = _body(rng)
        headers = _headers(rng, secret, body)
        answer = await stack.webhooks.post(path, content=body, headers=headers)
        statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            errors.append(f"{answer.status_code} for {body[:200]!r} {headers}: {answer.text}")
    assert not errors, "\n".join(errors[:5])
    # The generator reached past the signature check: some bodies were judged on their
    # content (422), and a few valid ones were accepted.
    assert statuses[422] >= 20, statuses
    assert statuses[401] >= 20, statuses
    assert statuses[202] >= 1, statuses
