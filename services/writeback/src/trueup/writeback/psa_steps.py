"""One step of a job against a PSA: how to write it, and whether it was already written.

A job writes its changes one at a time, in date order. Before a step that may already
have reached the PSA (a crash, or an error, after the request left), `probe_step` reads
the PSA and decides: sent, not sent, or changed by someone else. Each PSA needs its own
evidence, because each writes differently:

- ConnectWise, undated: a PATCH replaces the addition's quantity. The addition showing
  the target quantity is the evidence.
- ConnectWise, dated or prorated: cancel-and-add. The client adds the new addition first
  and then cancels the old one the day before the effective date. A new addition of the
  same product, from that date, with the target quantity, is the evidence; if the old
  one is not cancelled yet, the cancel (an idempotent PATCH) is finished here.
- Autotask: a ContractServiceAdjustment carries a difference, so sending it twice would
  double it. The units billed on the effective date are the evidence; and the client
  computes the difference against those units, so a re-send of a written step writes
  nothing.
- Halo: a line update replaces the quantity, like ConnectWise's PATCH.
- A new line item (`add`): it carries a reference derived from the idempotency key in
  its description, which every PSA keeps and lists.

The PSAs are named above to explain; the code tells them apart only by the client's
`Capabilities` (`replaces_line`) and the `PsaClient` methods each implements.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from trueup.contracts.messages import ApplyWriteback, ProratedChange
from trueup.psa import LineItemRef, PsaClient, PsaLineItem, PsaProduct

SENT = "sent"
NOT_SENT = "not_sent"
CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class StepOptions:
    """How a change goes to the PSA: the effective date to send (None: now) and proration."""

    effective_date: date | None
    prorate: bool

    def replaces_line(self, client: PsaClient) -> bool:
        """True when the write is a cancel-and-add (ConnectWise): the line item id changes."""
        return client.capabilities().replaces_line and (
            self.effective_date is not None or self.prorate
        )


@dataclass(frozen=True, slots=True)
class StepResult:
    """What a step left in the PSA: the line item that now bills, and the records written."""

    line_item_id: str
    written_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Probe:
    """What the PSA shows for a step that may have been sent."""

    verdict: str  # SENT | NOT_SENT | CHANGED
    found_quantity: Decimal | None = None
    result: StepResult | None = None


def today() -> date:
    return datetime.now(UTC).date()


def ordered_changes(command: ApplyWriteback) -> list[ProratedChange]:
    """The command's changes in date order (the order they are written)."""
    return sorted(command.changes, key=lambda c: c.effective_date)


def options_for(client: PsaClient, change: ProratedChange, prorate: bool) -> StepOptions:
    """The PSA's own way to write a change.

    A PSA that always prorates dated changes (Autotask) gets the date and proration; one
    without dated changes (Halo) changes the quantity now and cannot take a later date;
    ConnectWise PATCHes a change that is neither prorated nor later than today and uses
    cancel-and-add otherwise.
    """
    caps = client.capabilities()
    if caps.proration and not caps.proration_optional:
        return StepOptions(change.effective_date, True)
    prorate = prorate and caps.proration
    if not caps.dated_changes:
        # Halo changes the quantity now. A later date is passed on so that the client
        # refuses it (PsaUnsupported) instead of billing the change early.
        later = change.effective_date if change.effective_date > today() else None
        return StepOptions(later, False)
    if not prorate and change.effective_date <= today():
        return StepOptions(None, False)
    return StepOptions(change.effective_date, prorate)


def add_reference(idempotency_key: str) -> str:
    """A short, stable reference to a job, written into a new line item's description."""
    return "TrueUp " + hashlib.sha256(idempotency_key.encode()).hexdigest()[:10]


def add_description(command: ApplyWriteback) -> str:
    name = command.product_name or f"Product {command.product_id}"
    return f"{name} ({add_reference(command.idempotency_key)})"


async def send_step(
    client: PsaClient,
    command: ApplyWriteback,
    line_item_id: str | None,
    change: ProratedChange,
    *,
    expected_quantity: Decimal | None,
    checked: PsaLineItem | None = None,
) -> StepResult:
    """Write one change. `expected_quantity` makes the client refuse (PsaConflict) a line
    item that changed since it was checked; `checked` is the line item as just read, so
    the client need not read it again."""
    options = options_for(client, change, command.prorate)
    if line_item_id is None:
        result = await client.add_line_item(
            command.contract_psa_id,
            PsaProduct(id=command.product_id or "", name=command.product_name),
            change.quantity,
            command.unit_price or Decimal(0),
            command.unit_cost or Decimal(0),
            effective_date=options.effective_date,
            prorate=options.prorate,
            description=add_description(command),
        )
    else:
        result = await client.change_quantity(
            LineItemRef(command.contract_psa_id, line_item_id),
            change.quantity,
            effective_date=options.effective_date,
            prorate=options.prorate,
            expected_quantity=expected_quantity,
            checked=checked,
        )
    new_id = result.line_item.id if result.line_item is not None else line_item_id
    if new_id is None:
        raise RuntimeError("the PSA answered an added line item without an id")
    return StepResult(new_id, result.record_ids)


async def probe_step(
    client: PsaClient,
    command: ApplyWriteback,
    line_item_id: str | None,
    change: ProratedChange,
    quantity_before: Decimal | None,
    recorded_at: datetime,
) -> Probe:
    """Whether a step that may have reached the PSA did (see the module docstring)."""
    if line_item_id is None:
        return await _probe_added(client, command)
    options = options_for(client, change, command.prorate)
    if options.replaces_line(client):
        return await _probe_cancel_and_add(
            client, command, line_item_id, change, options, quantity_before, recorded_at
        )
    current = await client.get_line_item(command.contract_psa_id, line_item_id)
    if options.effective_date is not None and options.effective_date > today():
        # Autotask, a later date: today's units do not show the change yet, and the
        # client adjusts by the difference on that date, so a re-send of a written step
        # writes nothing. Only a changed line item stops it.
        if quantity_before is not None and current.quantity != quantity_before:
            return Probe(CHANGED, current.quantity)
        return Probe(NOT_SENT)
    if current.quantity == change.quantity:
        return Probe(SENT, current.quantity, StepResult(line_item_id))
    if quantity_before is None or current.quantity == quantity_before:
        return Probe(NOT_SENT, current.quantity)
    return Probe(CHANGED, current.quantity)


async def _probe_added(client: PsaClient, command: ApplyWriteback) -> Probe:
    reference = add_reference(command.idempotency_key)
    async for item in client.list_line_items(contract_ids=[command.contract_psa_id]):
        if item.description and reference in item.description:
            return Probe(SENT, item.quantity, StepResult(item.id, (item.id,)))
    return Probe(NOT_SENT)


async def _probe_cancel_and_add(
    client: PsaClient,
    command: ApplyWriteback,
    line_item_id: str,
    change: ProratedChange,
    options: StepOptions,
    quantity_before: Decimal | None,
    recorded_at: datetime,
) -> Probe:
    original = await client.get_line_item(command.contract_psa_id, line_item_id)
    effective = options.effective_date or today()
    replacement = await _find_replacement(client, original, change, effective, recorded_at)
    if replacement is not None:
        cancel_on = effective - timedelta(days=1)
        written: tuple[str, ...] = (replacement.id, original.id)
        if original.cancelled_date is None:
            # Crashed between the add and the cancel: finish the cancel (a PATCH that
            # sets a date, so doing it twice changes nothing).
            await client.cancel_line_item(original.contract_id, original.id, cancel_on)
        return Probe(SENT, replacement.quantity, StepResult(replacement.id, written))
    if original.cancelled_date is None and (
        quantity_before is None or original.quantity == quantity_before
    ):
        return Probe(NOT_SENT, original.quantity)
    # Cancelled, or re-quantified, by someone else: writing now would overwrite them.
    return Probe(CHANGED, original.quantity)


async def _find_replacement(
    client: PsaClient,
    original: PsaLineItem,
    change: ProratedChange,
    effective: date,
    recorded_at: datetime,
) -> PsaLineItem | None:
    found: PsaLineItem | None = None
    since = recorded_at - timedelta(minutes=1)
    async for item in client.list_line_items(contract_ids=[original.contract_id]):
        if (
            item.id != original.id
            and item.product.id == original.product.id
            and item.effective_date == effective
            and item.quantity == change.quantity
            and item.cancelled_date is None
            # Made after the job was recorded, and after the original: not an older one.
            and (item.updated_at is None or item.updated_at >= since)
            and _newer_id(item.id, original.id)
        ):
            found = item
    return found


def _newer_id(candidate: str, original: str) -> bool:
    # ConnectWise ids grow; where they are not numbers, the other tests must do.
    if candidate.isdigit() and original.isdigit():
        return int(candidate) > int(original)
    return True


def wants_note(client: PsaClient) -> bool:
    """Whether a job leaves a note on the contract.

    Not where the PSA's audit trail records every API change by itself (ConnectWise), and
    not where the PSA takes no notes (Halo).
    """
    caps = client.capabilities()
    return caps.contract_notes and not caps.audit_trail


async def note_already_written(client: PsaClient, command: ApplyWriteback) -> bool:
    """Whether the contract already carries this job's note (its reference is in the text).

    Asked before a note is re-sent after a crash or an error, so the note is written once.
    """
    reference = add_reference(command.idempotency_key)
    return await client.has_contract_note(command.contract_psa_id, reference)


def audit_note(command: ApplyWriteback, quantity_before: Decimal | None) -> tuple[str, str]:
    """Title and text of the note TrueUp leaves on the contract in the PSA."""
    changes = ", ".join(
        f"{c.quantity} from {c.effective_date.isoformat()}" for c in ordered_changes(command)
    )
    who = command.actor.name or command.actor.id
    before = "none" if quantity_before is None else str(quantity_before)
    verb = "added" if command.action == "add" else "changed"
    title = f"TrueUp: {command.product_name or 'line item'} {verb}"
    text = (
        f"Quantity {before} -> {changes}"
        f"{' (prorated)' if command.prorate else ''}, approved by {who} in TrueUp "
        f"(card {command.card_id}, reference {add_reference(command.idempotency_key)})."
    )
    return title, text
