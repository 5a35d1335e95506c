"""Activity entries read the way a person names things: the vendor account, PSA account,
service line and contract by name, and a quantity that was never known left out rather
than shown as "?" or "—"."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.audit.helpers import (
    JANE,
    account_mapped,
    approve,
    event,
    mapping_changed,
    outcome_fields,
    stored,
)
from trueup.audit import service
from trueup.audit.models import Entry
from trueup.contracts import Payload
from trueup.contracts.messages import (
    ActionRecorded,
    Actor,
    ImportFinished,
    ImportStatus,
    MappingChanged,
    ProratedChange,
    SettingsChanged,
    WritebackApplied,
    WritebackConflict,
    WritebackFailed,
)
from trueup.platform.service import ServiceRuntime

SYSTEM = Actor(kind="system", id="reconciliation", name="Reconciliation")
# Ids and tags a person should never have to read where a name is known.
RAW = ("company-17", "company-3", "acme-tenant", "M365-BP", "sl-m365bp", "4711", "pax8")
PLACEHOLDERS = ("?", "—", "None")

NAMED_OUTCOME: dict[str, Any] = {
    **outcome_fields(),
    "account_name": "Acme, Inc.",
    "account_id": "company-17",
    "service_line": "Microsoft 365 Business Premium",
    "contract_name": "Managed Services",
    "action": "approve",
}


def _add() -> ActionRecorded:
    return ActionRecorded(
        action_id="act-5",
        card_id="card-5",
        action="add",
        actor=JANE,
        account_name="Acme, Inc.",
        account_id="company-17",
        service_line="Backup",
        contract_psa_id="4711",
        contract_name="Managed Services",
        quantity_after=Decimal(20),
        changes=[ProratedChange(effective_date=date(2026, 11, 1), quantity=Decimal(20))],
    )


NAMED: list[tuple[str, Payload, str]] = [
    (
        "approve",
        approve(),
        "Approved Microsoft 365 Business Premium for Acme, Inc.: 25 → 27.5 → 30",
    ),
    (
        "approve of a quantity never reported",
        approve(quantity_before=None, changes=[]),
        "Approved Microsoft 365 Business Premium for Acme, Inc.: set to 30",
    ),
    (
        "add",
        _add(),
        "Added Backup to Acme, Inc. at quantity 20 on contract “Managed Services”",
    ),
    (
        "retry",
        approve(action="retry"),
        "Retried writing Microsoft 365 Business Premium for Acme, Inc. to the PSA: 25 → 27.5 → 30",
    ),
    (
        "dismiss",
        approve(action="dismiss", quantity_after=None, changes=[]),
        "Dismissed Microsoft 365 Business Premium for Acme, Inc.",
    ),
    (
        "writeback applied",
        WritebackApplied(**NAMED_OUTCOME, changes=approve().changes),
        "Wrote Microsoft 365 Business Premium for Acme, Inc. to ConnectWise contract "
        "“Managed Services”: 25 → 27.5 → 30",
    ),
    (
        "writeback of an add",
        WritebackApplied(
            **{
                **NAMED_OUTCOME,
                "action": "add",
                "service_line": "Backup",
                "quantity_before": None,
                "quantity_after": Decimal(20),
            }
        ),
        "Added Backup for Acme, Inc. to ConnectWise contract “Managed Services” at quantity 20",
    ),
    (
        "writeback of a quantity never reported",
        WritebackApplied(**{**NAMED_OUTCOME, "quantity_before": None}),
        "Wrote Microsoft 365 Business Premium for Acme, Inc. to ConnectWise contract "
        "“Managed Services”: set to 30",
    ),
    (
        "writeback conflict",
        WritebackConflict(
            **NAMED_OUTCOME, expected_quantity=Decimal(25), found_quantity=Decimal(26)
        ),
        "Not written: Microsoft 365 Business Premium for Acme, Inc. is 26 in ConnectWise "
        "contract “Managed Services”, the card showed 25",
    ),
    (
        "writeback failed",
        WritebackFailed(**NAMED_OUTCOME, error="PSA answered 503", attempts=8, dead_lettered=True),
        "Writing Microsoft 365 Business Premium for Acme, Inc. to ConnectWise contract "
        "“Managed Services” failed after 8 attempt(s): PSA answered 503 "
        "(parked for a person to retry)",
    ),
    ("account mapped", account_mapped(), "Mapped Pax8 ACME Incorporated → Acme, Inc."),
    (
        "account mapped by reconciliation itself",
        account_mapped(actor=SYSTEM, automatic=True),
        "Mapped Pax8 ACME Incorporated → Acme, Inc. (automatic)",
    ),
    (
        "account mapped elsewhere",
        account_mapped(previous_target_id="company-3", previous_target_name="Acme Holdings"),
        "Mapped Pax8 ACME Incorporated → Acme, Inc. (was Acme Holdings)",
    ),
    (
        "account unmapped",
        account_mapped(
            change="unmapped",
            target_id=None,
            target_name="",
            previous_target_id="company-17",
            previous_target_name="Acme, Inc.",
        ),
        "Unmapped Pax8 ACME Incorporated from Acme, Inc.",
    ),
    (
        "account excluded",
        account_mapped(change="excluded", target_id=None, target_name=""),
        "Excluded Pax8 ACME Incorporated: its usage is not reconciled",
    ),
    (
        "service mapped",
        mapping_changed(),
        "Mapped Pax8 Microsoft 365 Business Premium (monthly) → Microsoft 365 Business Premium",
    ),
    (
        "service line updated",
        MappingChanged(
            kind="service",
            change="updated",
            vendor="pax8",
            vendor_key="sl-m365bp",
            target_id="sl-m365bp",
            actor=JANE,
            vendor_key_name="Microsoft 365 Business Premium",
            target_name="Microsoft 365 Business Premium",
        ),
        "Updated service line Microsoft 365 Business Premium (vendor Pax8)",
    ),
    (
        "import",
        ImportFinished(
            import_id="imp-1",
            vendor="pax8",
            file_name="november.csv",
            status=ImportStatus.COMPLETED,
            rows_read=40,
            rows_imported=38,
            rows_skipped=2,
            actor=JANE,
        ),
        "Import of november.csv (Pax8) completed: 38 of 40 rows imported, 2 skipped",
    ),
    (
        "settings",
        SettingsChanged(section="billing", actor=JANE, summary="cycle starts day 1"),
        "Billing settings: cycle starts day 1",
    ),
]


async def _recorded(audit: ServiceRuntime, tenant: str, *payloads: Payload) -> list[Entry]:
    for payload in payloads:
        async with audit.database.transaction(tenant) as session:
            await service.record_event(session, event(payload, tenant), now=datetime.now(UTC))
    return await stored(audit, tenant)


class TestSummariesNameWhatChanged:
    @pytest.mark.parametrize(
        ("payload", "expected"),
        [case[1:] for case in NAMED],
        ids=[case[0] for case in NAMED],
    )
    async def test_each_kind_of_entry_reads_with_names_and_no_placeholders(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str], payload: Payload, expected: str
    ) -> None:
        tenant, _ = tenant_ids
        (entry,) = await _recorded(audit, tenant, payload)
        summary = service.to_view(entry).summary
        assert summary == expected
        assert [raw for raw in RAW if raw in summary] == []
        assert [mark for mark in PLACEHOLDERS if mark in summary] == []

    async def test_an_account_mapping_is_filed_under_its_psa_account(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        unmapped = account_mapped(
            change="unmapped",
            target_id=None,
            target_name="",
            previous_target_id="company-17",
            previous_target_name="Acme, Inc.",
        )
        entries = await _recorded(audit, tenant, account_mapped(), unmapped, mapping_changed())
        assert [(e.account_name, e.account_id, e.service_line) for e in entries] == [
            ("Acme, Inc.", "company-17", ""),
            ("Acme, Inc.", "company-17", ""),
            ("", None, "Microsoft 365 Business Premium"),
        ]

    async def test_a_writeback_outcome_carries_its_own_names_and_account_id(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        # No action entry to borrow from: the outcome alone names what it wrote.
        (entry,) = await _recorded(audit, tenant, WritebackApplied(**NAMED_OUTCOME))
        assert (entry.account_name, entry.account_id, entry.service_line) == (
            "Acme, Inc.",
            "company-17",
            "Microsoft 365 Business Premium",
        )


def _as_sent_before(model: type[Payload], body: dict[str, Any]) -> Payload:
    """An event exactly as an older producer sent it: JSON without the name fields."""
    return model.model_validate_json(json.dumps(body))


OLD_MAPPING = {
    "kind": "account",
    "change": "mapped",
    "vendor": "pax8",
    "vendor_key": "acme-tenant",
    "target_id": "company-17",
    "actor": {"kind": "user", "id": JANE.id, "name": JANE.name},
    "automatic": False,
}


class TestOlderEventsStillRead:
    async def test_an_old_mapping_event_labels_its_ids(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        (entry,) = await _recorded(audit, tenant, _as_sent_before(MappingChanged, OLD_MAPPING))
        view = service.to_view(entry)
        assert view.summary == "Mapped Pax8 account acme-tenant → PSA account company-17"
        assert view.account_id == "company-17"

    async def test_an_old_outcome_of_an_add_takes_the_names_of_its_action(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        old_outcome = {
            **outcome_fields("act-5", "card-5"),
            "quantity_before": None,
            "quantity_after": Decimal(20),
            "written_ids": ["adj-1"],
        }
        entries = await _recorded(
            audit, tenant, _add(), WritebackApplied.model_validate(old_outcome)
        )
        written = service.to_view(entries[-1])
        assert written.summary == (
            "Added Backup for Acme, Inc. to ConnectWise contract 4711 at quantity 20"
        )
        assert (written.account_name, written.account_id) == ("Acme, Inc.", "company-17")

    async def test_an_old_outcome_with_nothing_to_borrow_from_still_reads(
        self, audit: ServiceRuntime, tenant_ids: tuple[str, str]
    ) -> None:
        tenant, _ = tenant_ids
        old_outcome = {**outcome_fields(), "quantity_before": None, "written_ids": []}
        (entry,) = await _recorded(audit, tenant, WritebackApplied.model_validate(old_outcome))
        assert service.to_view(entry).summary == (
            "Wrote the line item to ConnectWise contract 4711: set to 30"
        )
