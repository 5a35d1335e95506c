// What the change editor in Details checks and sends, without React: the editor keeps the
// fields as typed, and these decide whether they can be previewed and what is submitted.
import type { AddRequest } from "./cardActions";
import { qty } from "./format";
import type { ChangeRequest, ProratedChange } from "./types";

const DECIMAL = /^\d+(\.\d+)?$/;

/** A quantity, price or cost as the API takes it: digits, optionally a point and more digits. */
export function isDecimal(text: string): boolean {
  return DECIMAL.test(text);
}

/** The editor's fields, as typed. An empty price or cost means "keep the contract's". */
export interface ChangeDraft {
  quantity: string;
  price: string;
  cost: string;
  prorated: ProratedChange[];
}

/**
 * Whether the draft can be neither previewed nor sent. Price and cost are only checked when
 * adding a line item: on an existing one they are read-only.
 */
export function draftInvalid(draft: ChangeDraft, isNew: boolean): boolean {
  const { quantity, price, cost, prorated } = draft;
  return (
    !isDecimal(quantity) ||
    (isNew && ((price !== "" && !isDecimal(price)) || (cost !== "" && !isDecimal(cost)))) ||
    prorated.some((p) => !p.effective_date || !isDecimal(p.quantity))
  );
}

/** The approval (and preview) body: prorated steps only when there are some. */
export function changeRequest(quantity: string, effective: string, prorated: ProratedChange[]): ChangeRequest {
  return {
    quantity,
    effective_date: effective,
    ...(prorated.length ? { prorated_changes: prorated } : {}),
  };
}

/** An approval as sent: a large change (the preview named one) carries `confirm`. */
export function approvalRequest(body: ChangeRequest, large: string | null): ChangeRequest {
  return { ...body, ...(large ? { confirm: true } : {}) };
}

/** Adding a line item for new revenue: an empty price or cost is left to the contract. */
export function addRequest(
  draft: Omit<ChangeDraft, "prorated"> & { contractId: string; effective: string; prorate: boolean },
  large: string | null,
): AddRequest {
  return {
    contract_id: draft.contractId,
    quantity: draft.quantity,
    ...(draft.price ? { unit_price: draft.price } : {}),
    ...(draft.cost ? { unit_cost: draft.cost } : {}),
    effective_date: draft.effective,
    prorate: draft.prorate,
    ...(large ? { confirm: true } : {}),
  };
}

/**
 * The step "Add prorated change" appends: a week after the last step (or after the change's
 * effective date), at the last step's quantity. Two steps on one date would be refused.
 */
export function nextProratedStep(steps: ProratedChange[], effective: string, quantity: string): ProratedChange {
  const last = steps.at(-1);
  return { effective_date: addDays(last?.effective_date ?? effective, 7), quantity: last?.quantity ?? quantity };
}

/** An ISO date `days` later, in UTC; a date that cannot be read is returned as it is. */
export function addDays(isoDate: string, days: number): string {
  const moment = new Date(`${isoDate}T00:00:00Z`);
  if (Number.isNaN(moment.getTime())) return isoDate;
  moment.setUTCDate(moment.getUTCDate() + days);
  return moment.toISOString().slice(0, 10);
}

/** "20 → 45 → 48 → 50": every quantity an approval passes through, as the PSA receives it. */
export function stepsText(before: string | null, steps: { quantity_after: string }[] | undefined, fallback: string): string {
  const after = steps && steps.length > 0 ? steps.map((s) => s.quantity_after) : [fallback];
  return [before, ...after].map((q) => qty(q)).join(" → ");
}
